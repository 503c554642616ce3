export * from './constants.js';
export * from './errors.js';
export * from './messages.js';
export * from './ranges.js';
export * from './validate.js';
export * from './answers.js';
