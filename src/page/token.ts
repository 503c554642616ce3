/** The upload token, asked for once and kept for this tab (sessionStorage). */
const KEY = 'upwire.token';

export function savedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

/** Said in the dialog when it opens again because the token kept for the tab was refused. */
export const TOKEN_REFUSED = 'The server refused that token. Check it and try again.';

let asking: Promise<string> | undefined;

/**
 * Shows the token dialog (once, however many callers ask at the same time). It opens again only
 * when the server refused, so a token kept for the tab means that token was wrong: the dialog says
 * so unless told another reason. Dismissed (Escape), it rejects: the caller shows that no token was given.
 */
export function askForToken(reason?: string): Promise<string> {
  asking ??= new Promise<string>((resolve, reject) => {
    const dialog = document.querySelector<HTMLDialogElement>('#token-dialog')!;
    const form = document.querySelector<HTMLFormElement>('#token-form')!;
    const input = document.querySelector<HTMLInputElement>('#token-input')!;
    const refused = savedToken() !== undefined;
    document.querySelector('#token-error')!.textContent = reason ?? (refused ? TOKEN_REFUSED : '');
    input.value = '';
    const submitted = () => {
      dialog.removeEventListener('close', dismissed);
      sessionStorage.setItem(KEY, input.value);
      asking = undefined;
      resolve(input.value);
    };
    const dismissed = () => {
      form.removeEventListener('submit', submitted);
      asking = undefined;
      reject(new Error('no token was given'));
    };
    form.addEventListener('submit', submitted, { once: true });
    dialog.addEventListener('close', dismissed, { once: true });
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
