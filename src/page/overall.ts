import { formatBytes, formatDuration } from '../client/format.js';
import type { UploadRow } from './upload-row.js';

/** The list's head: how far all files are, and which of Pause all, Resume all, Clear finished apply now. */
export function renderOverall(jobs: readonly { row: UploadRow; file: File }[]): void {
  const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;
  // Refused, failed and cancelled files are not on their way: they count in no total.
  const counted = jobs.filter(({ row }) => !['refused', 'failed', 'cancelled'].includes(row.phase));
  const finished = jobs.filter(({ row }) => row.phase === 'done' || row.phase === 'instant').length;
  const failed = jobs.filter(({ row }) => row.phase === 'failed').length;
  const total = counted.reduce((sum, { file }) => sum + file.size, 0);
  const bytes = counted.reduce((sum, { row, file }) => sum + Math.min(file.size, row.bytes), 0);
  // Speed and time left only while bytes move: a paused or retrying row adds nothing.
  const speed = counted.filter(({ row }) => row.shown === 'uploading').reduce((sum, { row }) => sum + row.speed, 0);

  $('#queue-panel').hidden = jobs.length === 0;
  $<HTMLProgressElement>('#overall-bar').value = total === 0 ? (counted.length > 0 && finished === counted.length ? 100 : 0) : (100 * bytes) / total;
  const parts = [`${finished} of ${counted.length} file${counted.length === 1 ? '' : 's'} done`];
  if (failed > 0) parts.push(`${failed} failed`);
  if (total > 0) parts.push(`${formatBytes(bytes)} of ${formatBytes(total)}`);
  if (speed > 0) parts.push(`${formatBytes(speed)}/s`, `${formatDuration((total - bytes) / speed)} left`);
  $('#queue-summary').textContent = parts.join(' · ');

  $('#pause-all').hidden = !jobs.some(({ row }) => row.pausable && row.shown !== 'paused');
  $('#resume-all').hidden = !jobs.some(({ row }) => row.shown === 'paused');
  $('#clear-finished').hidden = finished === 0;
}
