/*
 * Driving the upload page in Chromium: axe-core run in the page, files dropped as a person's drag
 * would deliver them, the hash worker's answer held back (a slow disk, on demand), contrast read
 * from the computed styles.
 */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const require = createRequire(import.meta.url);

export interface AxeViolation { id: string; impact: string; help: string; targets: string[] }

/** axe-core's serious and critical violations on the page as it is now. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: { id: string; impact?: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const { violations } = await axe.run(document, { resultTypes: ['violations'] });
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact!, help: v.help, targets: v.nodes.map((n) => String(n.target)) }));
  });
}

/**
 * Fires dragover then drop on `selector` with files made in the page, as a drag from the desktop
 * delivers them; returns whether the page refused each default (a drop whose default is not
 * refused makes the browser open the file in place of the page).
 */
export function dropFiles(page: Page, selector: string, files: { name: string; type: string; text: string }[]): Promise<{ dragover: boolean; drop: boolean }> {
  return page.evaluate(([target, list]) => {
    const data = new DataTransfer();
    for (const { name, type, text } of list) data.items.add(new File([text], name, { type }));
    const element = document.querySelector(target)!;
    const fire = (type: string) => {
      const event = new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true });
      element.dispatchEvent(event);
      return event.defaultPrevented;
    };
    return { dragover: fire('dragover'), drop: fire('drop') };
  }, [selector, files] as const);
}

/**
 * Before the page loads: every Worker's final answer ('done') is held until `releaseHashing`, so a
 * test can act while a file is still hashing however fast the machine is. Counts the workers started
 * and terminated (`window.hashWorkers`).
 */
export async function holdHashing(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const state = { started: 0, terminated: 0, release: false, held: [] as (() => void)[] };
    (window as unknown as { hashWorkers: typeof state }).hashWorkers = state;
    const Native = window.Worker;
    window.Worker = class extends Native {
      constructor(url: string | URL, options?: WorkerOptions) {
        super(url, options);
        state.started++;
      }
      override set onmessage(listener: ((event: MessageEvent) => void) | null) {
        super.onmessage = listener && ((event: MessageEvent) => {
          if ((event.data as { type?: string }).type === 'done' && !state.release) state.held.push(() => listener.call(this, event));
          else listener.call(this, event);
        });
      }
      override get onmessage() {
        return super.onmessage;
      }
      override terminate() {
        state.terminated++;
        super.terminate();
      }
    };
  });
}

/** Lets held and later hash answers through. */
export async function releaseHashing(page: Page): Promise<void> {
  await page.evaluate(() => {
    const state = (window as unknown as { hashWorkers: { release: boolean; held: (() => void)[] } }).hashWorkers;
    state.release = true;
    for (const deliver of state.held.splice(0)) deliver();
  });
}

export function hashWorkers(page: Page): Promise<{ started: number; terminated: number; held: number }> {
  return page.evaluate(() => {
    const { started, terminated, held } = (window as unknown as { hashWorkers: { started: number; terminated: number; held: unknown[] } }).hashWorkers;
    return { started, terminated, held: held.length };
  });
}

/**
 * WCAG contrast of each visible element matching `selector`: its `property` color (color,
 * border-top-color) against the first opaque background behind it.
 */
export function contrasts(page: Page, selector: string, property: 'color' | 'border-top-color'): Promise<{ text: string; ratio: number }[]> {
  return page.evaluate(([sel, prop]) => {
    const rgba = (css: string): number[] => (css.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r, g, b]: number[]) => {
      const [R, G, B] = [r!, g!, b!].map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
      return 0.2126 * R! + 0.7152 * G! + 0.0722 * B!;
    };
    const background = (element: Element | null): number[] => {
      for (let e = element; e; e = e.parentElement) {
        const color = rgba(getComputedStyle(e).backgroundColor);
        if (color[3] === undefined || color[3] === 1) return color;
      }
      return [255, 255, 255];
    };
    return [...document.querySelectorAll<HTMLElement>(sel)].filter((e) => e.offsetParent !== null).map((e) => {
      // Text lies on its own element's background (a badge's); a border between the element and what is behind it.
      const behind = prop === 'color' ? e : e.parentElement;
      const [a, b] = [luminance(rgba(getComputedStyle(e).getPropertyValue(prop))), luminance(background(behind))];
      return { text: e.getAttribute('aria-label') ?? e.textContent ?? '', ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
    });
  }, [selector, property] as const);
}
