/*
 * `upwire/server` runs entry.ts, which loads index.ts itself so that a missing peer package becomes
 * one line naming the install (the missing case runs from the packed tarball in
 * test/e2e/package-peers.test.ts). Here: the entry exports exactly index's values, and the line.
 */
import { expect } from 'chai';
import { installLine, missingPeerPackage } from '../../src/server/model/peer-packages.js';

describe('upwire/server\'s entry', () => {
  it('exports every value of index.ts, the same objects, and nothing else', async () => {
    const entry = await import('../../src/server/entry.js') as Record<string, unknown>;
    const index = await import('../../src/server/index.js') as Record<string, unknown>;
    expect(Object.keys(entry).sort()).to.deep.equal(Object.keys(index).sort());
    for (const name of Object.keys(index)) expect(entry[name], name).to.equal(index[name]);
  });

  it('tells a missing peer package from other failures, and names its group\'s install line', () => {
    const notFound = (name: string) => Object.assign(new Error(`Cannot find package '${name}' imported from /app/node_modules/upwire/dist/src/server/app.js`), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(missingPeerPackage(notFound('pino'))).to.equal('pino');
    expect(missingPeerPackage(notFound('redis'))).to.equal('redis');
    expect(missingPeerPackage(new Error('unable to determine transport target for "pino-pretty"'))).to.equal('pino-pretty');
    // Not a peer of upwire, or not a missing package at all: not this error to explain.
    expect(missingPeerPackage(notFound('left-pad'))).to.equal(undefined);
    expect(missingPeerPackage(new Error("Cannot find package 'pino' imported from x"))).to.equal(undefined);
    expect(missingPeerPackage(undefined)).to.equal(undefined);
    expect(installLine('upwire/server', 'level')).to.equal("upwire/server needs the server's packages (level is missing): npm install socket.io level pino pino-pretty prom-client");
    expect(installLine('upwire/server', '@socket.io/redis-adapter')).to.match(/: npm install redis @socket\.io\/redis-adapter$/);
    expect(installLine('upwire/server', '@aws-sdk/client-s3')).to.match(/: npm install @aws-sdk\/client-s3 @aws-sdk\/s3-request-presigner$/);
  });
});
