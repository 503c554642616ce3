/**
 * The one live region of the upload list. The rows change on every progress event (bars, speed,
 * time left), so they are not live themselves: a screen reader would talk without pause. Only
 * what a person acts on is said here, once: a file uploaded, failed, paused, refused.
 */
const KEPT = 5;

export function announce(text: string): void {
  const region = document.querySelector<HTMLElement>('#announcer');
  if (!region) return;
  // A new node per message: screen readers say additions, so two rows ending at once are both
  // heard, and the same words twice ("retrying") are heard twice.
  const line = document.createElement('p');
  line.textContent = text;
  region.append(line);
  while (region.childElementCount > KEPT) region.firstElementChild!.remove();
}
