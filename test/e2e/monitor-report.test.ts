/**
 * The monitor's reports in Debian's Chromium (headless, through playwright-core): a drift report of a window
 * where two features and the predictions moved, and a quality report over windows. The page must be readable at
 * a glance: drifted columns first, per chart the bin labels, a share axis and the legend, the test, score and
 * threshold beside it, the prediction distribution, and the quality metrics over time with their bound.
 * Screenshots go to test-results/ (and, with RECORD_SCREENSHOTS=1, to docs/images/ for the README).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestSource } from '../../activities/ingest/ingest.js';
import { computeDriftReport } from '../../activities/monitor/monitoring.js';
import { renderQualityHtml } from '../../activities/monitor/report-html.js';
import { openObjectStore, type ObjectStore } from '../../registry/object-store.js';
import type { QualityReport } from '../../sdk/run-types.js';
import { fixturePipeline } from '../helpers/harness.js';

let browser: Browser;
let dir: string;
let store: ObjectStore;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'monitor-report-'));
  store = openObjectStore(pathToFileURL(path.join(dir, 'store')).href);
  browser = await launchChromium();
  await fs.mkdir('test-results', { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

function row(random: () => number, shift: number) {
  return {
    sepal_length: +(5 + random() + shift).toFixed(3),
    sepal_width: +(3 + random() * 0.8).toFixed(3),
    petal_length: +(1.5 + random() * 2 + shift * 2).toFixed(3),
    petal_width: +(0.3 + random()).toFixed(3),
    species: ['setosa', 'versicolor', 'virginica'][Math.floor(random() * (shift ? 2 : 3))]!,
  };
}

async function screenshot(file: string, name: string) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(pathToFileURL(file).href);
  await page.screenshot({ path: `test-results/${name}`, fullPage: false });
  if (process.env.RECORD_SCREENSHOTS === '1') await fs.copyFile(`test-results/${name}`, `docs/images/${name}`);
  return page;
}

describe('monitor reports in Chromium', () => {
  it('drift report: drifted columns first, labelled bins, legend, test/score/threshold, prediction distribution', async () => {
    const random = rng(5);
    const csv = path.join(dir, 'ref.csv');
    const header = 'sepal_length,sepal_width,petal_length,petal_width,species';
    const rows = Array.from({ length: 300 }, () => row(random, 0));
    await fs.writeFile(csv, [header, ...rows.map((r) => Object.values(r).join(','))].join('\n') + '\n');
    const spec = fixturePipeline({
      name: 'iris-report',
      ingest: {
        ...fixturePipeline().spec.ingest,
        source: csv,
        target: 'species',
      },
      monitor: { columns: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species'] },
    }).spec;
    const snapshot = await ingestSource(store, { pipeline: 'iris-report', runKey: 'r', ingest: spec.ingest });
    const offline = rows.map((r, key) => ({
      key,
      instance: r,
      prediction: { label: r.petal_length > 2.5 ? 1 : 0, score: r.petal_length / 4 },
    }));
    await store.put(
      'models/iris-report/versions/1/artifacts/predictions.jsonl',
      offline.map((o) => JSON.stringify(o)).join('\n'),
    );
    const served = Array.from({ length: 200 }, () => row(random, 0.6)).map((features, i) => ({
      id: `r${i}`,
      ts: '2026-01-01T00:00:01.000Z',
      model: 'iris-report',
      version: 1,
      features,
      prediction: { label: features.petal_length > 2.5 ? 1 : 0, score: features.petal_length / 4 },
    }));
    const window = '2026-01-01T00:00:00.000Z';
    await store.put(
      `monitoring/iris-report/windows/${window}/a.jsonl`,
      served.map((l) => JSON.stringify(l)).join('\n'),
    );
    const report = await computeDriftReport(store, { model: 'iris-report', version: 1, snapshot, spec }, window);
    expect(report.predictions?.drifted).toBe(true);

    const page = await screenshot(
      store.localPath(`monitoring/iris-report/reports/${window}.html`)!,
      'monitor-drift-report.png',
    );
    const features = await page.locator('h2:has-text("Features") ~ section.column h3').allTextContents();
    const drifted = report.columns.filter((c) => c.drifted).map((c) => c.column);
    expect(drifted.length).toBeGreaterThanOrEqual(2);
    // Drifted columns come first.
    expect(features.slice(0, drifted.length).every((t) => / drift$/.test(t) && !/no drift$/.test(t))).toBe(true);
    expect(features.slice(drifted.length).every((t) => /no drift$/.test(t))).toBe(true);
    // A numerical chart's bins are labelled with their edges; a categorical one with its categories.
    const sepal = page.locator('section.column', { has: page.locator('h3', { hasText: /^sepal_length/ }) });
    const binLabels = await sepal.locator('svg text').allTextContents();
    expect(binLabels.some((t) => /^\[\d+(\.\d+)?, \d+(\.\d+)?[)\]]$/.test(t))).toBe(true);
    expect(binLabels).toContain('share');
    expect(binLabels.some((t) => /%$/.test(t))).toBe(true);
    const species = page.locator('section.column', { has: page.locator('h3', { hasText: /^species/ }) });
    expect(await species.locator('svg text').allTextContents()).toEqual(
      expect.arrayContaining(['setosa', 'versicolor', 'virginica']),
    );
    // The test, score and threshold beside the chart.
    const facts = await sepal.locator('table.facts').innerText();
    const sl = report.columns.find((c) => c.column === 'sepal_length')!;
    expect(facts).toMatch(new RegExp(`test\\s+${sl.test}`));
    expect(facts).toMatch(new RegExp(`threshold\\s+${sl.threshold}`));
    expect(facts).toMatch(/score\s+[\d.e-]+/);
    await expect(page.locator('.legend').innerText()).resolves.toMatch(
      /reference \(training data\)\s*current \(served window\)/,
    );
    // The prediction distribution, compared like a feature.
    await expect(page.locator('h2', { hasText: 'Predictions' }).innerText()).resolves.toMatch(/prediction drift/);
    expect(await page.locator('section.column h3', { hasText: /^prediction\.score/ }).count()).toBe(1);
    await page.close();
  });

  it('quality report: metrics per window over time with the bound', async () => {
    const windows = Array.from({ length: 6 }, (_, i) => {
      const accuracy = [0.92, 0.9, 0.91, 0.84, 0.71, 0.66][i]!;
      return {
        window: new Date(Date.UTC(2026, 0, 1, i)).toISOString(),
        predictions: 500,
        labelled: i < 5 ? 400 : 4,
        metrics: { accuracy, auc: accuracy + 0.03 },
        breaches: accuracy < 0.8 && i < 5 ? [`accuracy ${accuracy} < min 0.8`] : [],
        judged: i < 5,
      };
    });
    const report: QualityReport = {
      model: 'churn',
      version: 4,
      checkedAt: '2026-01-01T07:00:00.000Z',
      degraded: false,
      windows,
      labels: { files: 3, rows: 2010, joined: 2004, unknownIds: 4, duplicates: 1, wrongType: 1 },
      problems: ['labels/003.csv row 7: label "0.75" is not a class (a string, boolean or integer)'],
      reportUri: 'file:///x.json',
      htmlUri: 'file:///x.html',
    };
    const file = path.join(dir, 'quality.html');
    const labels = fixturePipeline({
      monitor: { labels: { prefix: 'gs://l/x/', task: 'classification', metrics: { accuracy: { min: 0.8 } } } },
    }).spec.monitor.labels!;
    await fs.writeFile(file, renderQualityHtml(report, labels));
    const page = await screenshot(file, 'monitor-quality-report.png');
    const chart = page.locator('figure', { hasText: 'accuracy per window' });
    expect(await chart.locator('circle').count()).toBe(6);
    expect(await chart.locator('svg text').allTextContents()).toEqual(
      expect.arrayContaining(['min 0.8', 'window start (UTC)']),
    );
    expect(await page.locator('td.bad').count()).toBe(1); // window 5 breached; window 6 waits for labels
    await expect(page.locator('body').innerText()).resolves.toMatch(/waiting for labels \(10 needed\)/);
    await page.close();
  });
});
