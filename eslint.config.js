import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * The rooms of src/server (each folder's README.md says what lives there) and the rooms each may
 * import; the files at the top of src/server are the composition root and wire all of them. The
 * arrows point one way: server -> protocol <- client, and inside the server from the ways in
 * (socket, http) down to the storage seams (bytes, store, lock) and the shared vocabulary (model).
 */
const ROOMS = {
  model: [],
  config: ['model'],
  redis: ['model'],
  lock: ['model', 'redis'],
  store: ['model', 'lock', 'redis'],
  bytes: ['model'],
  observe: ['model', 'store'],
  hashing: ['bytes'],
  session: ['model', 'bytes', 'store', 'hashing', 'observe'],
  upload: ['model', 'config', 'bytes', 'store', 'lock', 'hashing', 'session', 'observe'],
  access: ['model', 'config'],
  socket: ['model', 'config', 'access', 'upload', 'observe'],
  http: ['model', 'config', 'access', 'upload', 'observe', 'store', 'bytes'],
};
/** Packages only one room may import (its outside world); other rooms may import their types only where said. */
const OWNED = {
  'socket.io': 'socket', 'socket.io-parser': 'socket', 'node:http': 'http', redis: 'redis', level: 'store', pino: 'observe', 'prom-client': 'observe',
  '@aws-sdk/client-s3': 'bytes', '@aws-sdk/s3-request-presigner': 'bytes',
};
const TYPES_ANYWHERE = new Set(['node:http']);

function roomRules(room) {
  const others = Object.keys(ROOMS).filter((other) => other !== room && !ROOMS[room].includes(other));
  return {
    files: [`src/server/${room}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: Object.entries(OWNED).filter(([, owner]) => owner !== room).map(([name, owner]) => ({
          name, message: `only src/server/${owner}/ imports ${name}`, allowTypeImports: TYPES_ANYWHERE.has(name),
        })),
        patterns: [
          { group: others.map((other) => `../${other}/*`), message: `src/server/${room}/ may import only ${['protocol', ...ROOMS[room]].join(', ')} (see eslint.config.js and its README.md)` },
          { group: ['../*.js'], message: 'the composition root (the top of src/server) imports the rooms, never the other way' },
          { group: ['**/client/*', '**/page/*'], message: 'the server never imports the client' },
        ],
      }],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'db/', 'uploads/', 'test-artifacts/', 'src/client/worker-source.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...Object.keys(ROOMS).map(roomRules),
  {
    files: ['src/protocol/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*'], message: 'the protocol bundles for browsers: no node:* module' },
          { group: ['../server/*', '../client/*', '../page/*', '../cli/*'], message: 'the protocol imports nothing else from src/' },
        ],
      }],
    },
  },
  {
    files: ['src/client/**/*.ts', 'src/page/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ group: ['**/server/*', '**/cli/*'], message: 'the client never imports the server' }],
      }],
    },
  },
  {
    files: ['scripts/**/*.js'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
