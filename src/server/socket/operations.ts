import type { Socket } from 'socket.io';
import {
  parseChunk, parseInit, parseMd5Request, parsePreflight, parseProve, parseWatch,
  type ClientToServerEvents, type RequestName, type ServerToClientEvents,
} from '../../protocol/index.js';
import type { UploadService, Caller } from '../upload/service.js';
import type { ConnectionLimits } from './connection-limits.js';
import type { ConnectionIntake } from './intake.js';
import type { WatchLimits } from './watch-limits.js';
import { ALL_UPLOADS_ROOM, uploadRoom } from './watch-hub.js';

export type UploadSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

/** What a request's handler gets besides its payload: its connection, who sent it, and the limits that apply. */
export interface Context { socket: UploadSocket; caller: Caller; limits: ConnectionLimits; intake: ConnectionIntake; watchers: WatchLimits }

export type Handler = (payload: unknown, context: Context) => Promise<object>;

/** One small handler per protocol operation: validate, then call the service. */
export function operations(service: UploadService): Record<RequestName, Handler> {
  return {
    init: async (payload, { limits, caller }) => {
      const request = parseInit(payload);
      limits.checkInit(request.md5);
      const answer = await service.init(request, caller);
      if (answer.status === 'partial') limits.opened(request.md5);
      return answer;
    },
    prove: (payload, { limits, caller }) => {
      const request = parseProve(payload);
      limits.checkInit(request.md5); // a proof reads stored bytes: counted as an init
      return service.prove(request, caller);
    },
    chunk: async (payload, { socket, intake, caller }) => {
      const request = parseChunk(payload);
      const release = intake.admit(request.data.length);
      try {
        return await service.chunk(request, socket.id, caller);
      } finally {
        release();
      }
    },
    merge: async (payload, { limits, caller }) => {
      const { md5 } = parseMd5Request(payload);
      const answer = await service.merge(md5, caller);
      limits.closed(md5);
      return answer;
    },
    status: (payload, { caller }) => service.status(parseMd5Request(payload).md5, caller),
    abort: async (payload, { limits, caller }) => {
      const { md5 } = parseMd5Request(payload);
      await service.abort(md5, caller);
      limits.closed(md5);
      return {};
    },
    watch: async (payload, { socket, watchers }) => {
      const { md5 } = parseWatch(payload);
      const room = md5 === undefined ? ALL_UPLOADS_ROOM : uploadRoom(md5);
      if (!socket.rooms.has(room)) watchers.join(socket);
      await socket.join(room);
      return { uploads: service.snapshot(md5) };
    },
    delete: (payload, { caller }) => service.delete(parseMd5Request(payload).md5, caller),
    unwatch: async (payload, { socket, watchers }) => {
      const { md5 } = parseWatch(payload);
      await socket.leave(md5 === undefined ? ALL_UPLOADS_ROOM : uploadRoom(md5));
      watchers.left(socket);
      return {};
    },
    // Before the client hashes: what init would refuse without the md5 (see PreflightRequest).
    preflight: async (payload, { limits }) => {
      const request = parsePreflight(payload);
      limits.checkPreflight();
      service.preflight(request);
      return {};
    },
  };
}
