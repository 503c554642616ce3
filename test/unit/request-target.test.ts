import { expect } from 'chai';
import { parseTarget } from '../../src/server/http/request-target.js';

describe('parseTarget: a request target read as text', () => {
  it('splits an origin-form target at the first ? and keeps the path as sent', () => {
    const target = parseTarget('/files/abc?token=a?b&x=%20');
    expect(target && { path: target.path, search: target.search, token: target.query.get('token'), x: target.query.get('x') })
      .to.deep.equal({ path: '/files/abc', search: '?token=a?b&x=%20', token: 'a?b', x: ' ' });
    expect(parseTarget('/')?.path).to.equal('/');
    expect(parseTarget('/files/')?.path, 'a trailing slash is no empty segment').to.equal('/files/');
    expect(parseTarget('/assets/page.js')?.path).to.equal('/assets/page.js');
    expect(parseTarget('/a%2eb/..c/.d')?.path, 'dots inside a name are not dot segments').to.equal('/a%2eb/..c/.d');
    expect(parseTarget('/files?x=//..\\')?.path, 'the query is not the path').to.equal('/files');
  });

  it('refuses empty and dot segments, encoded slashes and backslashes, and targets that are not origin-form', () => {
    for (const bad of [
      '//evil.example/files', '/files//x', '/./files', '/files/.', '/../files', '/files/..', '/%2e/files', '/%2E%2e/files',
      '/.%2E/files', '/files/..%2f..%2fx', '/files/%2F', '/files%5c', '/files%5C..', '/\\evil.example/files', '/files\\x',
      'http://evil.example/files', '*', '', '?x',
    ]) {
      expect(parseTarget(bad), bad).to.equal(undefined);
    }
  });
});
