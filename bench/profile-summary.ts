/** A V8 CPU profile as DevTools' Profiler.stop returns it (the fields the summary reads). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * The profile's time by function (self time, summed over the call sites), largest first: what the
 * page's main thread did. `(idle)` is waiting for work, `(program)` the browser's own tasks on that
 * thread outside JavaScript (handling the socket's data pipe, reading streams), `send` WebSocket.send.
 */
export function summarizeProfile(profile: CpuProfile, top = 12): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byName = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id);
    const name = frame ? `${frame.functionName || '(anonymous)'}${frame.url ? ` ${frame.url.split('/').pop()}:${frame.lineNumber + 1}` : ''}` : '?';
    byName.set(name, (byName.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const total = (profile.endTime - profile.startTime) / 1000;
  const rows = [...byName].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [`    ${total.toFixed(0)} ms sampled`, ...rows.map(([name, ms]) => `    ${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${name}`)].join('\n');
}
