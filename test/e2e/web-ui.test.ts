/**
 * Approving from the Temporal Web UI, for real: Playwright drives Debian's Chromium (headless) against the dev
 * server's own UI, sends the `approve` Signal through "More Actions → Send a Signal", and the run deploys.
 * Screenshots go to test-results/ (and, with RECORD_SCREENSHOTS=1, to docs/images/ for the README).
 */
import { promises as fs } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { stopLocalServer } from '../../activities/index.js';
import { fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';

const uiUrl = inject('temporalUiUrl');
let h: Harness;
let browser: Browser;

beforeAll(async () => {
  h = await startHarness('web-ui');
  browser = await launchChromium();
  await fs.mkdir('test-results', { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await stopLocalServer(h.home, 'iris-test');
  await h?.stop();
});

async function sendSignal(page: Page, workflowId: string, name: string, payload: string, screenshot: string) {
  await page.goto(`${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
  const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
  await dialog.getByTestId('signal-select-button').click();
  // The dialog lists the workflow's signals by name with their descriptions.
  await page.getByRole('option', { name: /Approve the candidate model/ }).waitFor({ state: 'visible' });
  await page.getByRole('option', { name: new RegExp(`^${name} `) }).click();
  await dialog.locator('.cm-content').click();
  await page.keyboard.type(payload);
  // The UI reformats the JSON when the editor loses focus, which moves the Submit button: blur first.
  await dialog.getByText('only single JSON payload supported').click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `test-results/${screenshot}` });
  if (process.env.RECORD_SCREENSHOTS === '1')
    await fs.copyFile(`test-results/${screenshot}`, `docs/images/${screenshot}`);
  await dialog.getByTestId('confirm-modal-button').click();
  await dialog.waitFor({ state: 'hidden' }).catch(async (err: unknown) => {
    await page.screenshot({ path: `test-results/failed-${screenshot}` });
    throw err;
  });
}

describe.skipIf(!uiUrl)(
  'approval from the Temporal Web UI (skipped when $TEMPORAL_ADDRESS names a server without our UI)',
  () => {
    it('sends approve with a JSON payload through the Send a Signal dialog and the run proceeds to deploy', async () => {
      const run = await h.client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
      await waitForStage(h, run.workflowId, 'approval');
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await sendSignal(
        page,
        run.workflowId,
        'approve',
        '{"by": "ana@acme.com", "comment": "approved from the Web UI"}',
        'web-ui-approve-signal.png',
      );
      const result = await h.client.result(run);
      expect(result.approval.approvals).toEqual([
        expect.objectContaining({ by: 'ana@acme.com', comment: 'approved from the Web UI' }),
      ]);
      expect(result.approval.attempts[0]).toMatchObject({ via: 'signal', accepted: true });
      expect(result.deployment?.smoke?.response).toMatchObject({ predictions: expect.any(Array) });
      await page.close();
    });

    it('a malformed payload sent from the UI is refused: the run keeps waiting and status shows why', async () => {
      const run = await h.client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
      await waitForStage(h, run.workflowId, 'approval');
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await sendSignal(
        page,
        run.workflowId,
        'approve',
        '{"by": "ana", "coment": "typo"}',
        'web-ui-malformed-signal.png',
      );
      const status = await waitForStage(h, run.workflowId, 'approval');
      await expect.poll(async () => (await h.client.status(run)).approval.attempts.length).toBe(1);
      const refused = (await h.client.status(run)).approval.attempts[0]!;
      // The run's details in the UI show the candidate's metrics and gate report next to the actions.
      await page.goto(`${uiUrl}/namespaces/default/workflows/${encodeURIComponent(run.workflowId)}`);
      await page
        .getByRole('link', { name: 'User Metadata' })
        .or(page.getByRole('tab', { name: 'User Metadata' }))
        .first()
        .click();
      // What the UI's Current Details panel shows, read the way the UI reads it.
      const metadata = await h.client.handle(run).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toMatch(/^## iris-test v\d+ awaits approval/);
      expect(metadata.currentDetails).toContain('| auc | 0.9 |');
      expect(metadata.currentDetails).toContain('PASS: auc = 0.9 within [0.8, inf]');
      await page.waitForTimeout(1500);
      await page.screenshot({ path: 'test-results/web-ui-user-metadata.png' });
      if (process.env.RECORD_SCREENSHOTS === '1')
        await fs.copyFile('test-results/web-ui-user-metadata.png', 'docs/images/web-ui-user-metadata.png');
      expect(refused).toMatchObject({ accepted: false, via: 'signal' });
      expect(refused.reason).toMatch(/malformed payload/);
      expect(refused.reason).toMatch(/coment/);
      expect(status.stage).toBe('approval');
      await page.close();
      await h.client.reject(run, { by: 'bo@acme.com', comment: 'cleanup' });
    });
  },
);
