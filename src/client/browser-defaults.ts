/*
 * How the browser client sends, where it differs from Node's: smaller frames and a short queue in
 * the page's WebSocket (bench/browser-upload.ts measured why). Applied by createUploader and
 * openConnection of the browser entry, and by the page, which builds its uploaders itself.
 */
import { KiB, MiB } from '../protocol/index.js';

/**
 * The browser's largest frame. Chromium copies each WebSocket message into memory of its own, and
 * one of more than about 900 KiB into memory mapped for it alone (PartitionAlloc's direct map):
 * sending a 1 MiB message took 5-7 ms there against 0.3 ms for 512 KiB, and held 1 MiB frames to
 * 40-60 MiB/s on loopback (bench/browser-upload.ts).
 */
const BROWSER_MAX_FRAME_SIZE = 512 * KiB;

/**
 * The most bytes the page's WebSocket may hold unsent before another frame is read and handed to
 * it (see Connection.roomToSend). Chromium copies each message it cannot pass on at once; with the
 * whole window queued there (16 MiB), every frame went into memory not touched for a while.
 */
const BROWSER_MAX_UNSENT = 1 * MiB;

/** The browser's defaults for a connection, under what the caller sets. */
export const BROWSER_DEFAULTS = { maxFrameSize: BROWSER_MAX_FRAME_SIZE, maxUnsent: BROWSER_MAX_UNSENT };
