/** The upload token, asked for once and kept for this tab (sessionStorage). */
const KEY = 'upwire.token';

export function savedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

let asking: Promise<string> | undefined;

/** Shows the token dialog (once, however many callers ask at the same time). */
export function askForToken(reason?: string): Promise<string> {
  asking ??= new Promise<string>((resolve) => {
    const dialog = document.querySelector<HTMLDialogElement>('#token-dialog')!;
    const form = document.querySelector<HTMLFormElement>('#token-form')!;
    const input = document.querySelector<HTMLInputElement>('#token-input')!;
    document.querySelector('#token-error')!.textContent = reason ?? '';
    form.addEventListener('submit', () => {
      sessionStorage.setItem(KEY, input.value);
      asking = undefined;
      resolve(input.value);
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return asking;
}

/** Adds the token to a URL (downloads are plain links, which cannot carry a header). */
export function withToken(url: string): string {
  const token = savedToken();
  return token ? `${url}?token=${encodeURIComponent(token)}` : url;
}

export function authHeaders(): HeadersInit {
  const token = savedToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}
