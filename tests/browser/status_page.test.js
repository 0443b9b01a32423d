// Drives sluice's status page in Chromium. tests/e2e/test_status_page_browser.py starts the real
// sluice (with an admin token), a function that fails, and one dead-lettered record, then runs
// this with:
//   SLUICE_ADMIN_URL  http://127.0.0.1:PORT of the admin listener
//   SLUICE_TOKEN      its admin.token
//   SLUICE_MAPPING    the mapping's name
//   SLUICE_RECORD_ID  a record in the DLQ, to redrive
//   SLUICE_PURGE_ID   another, to purge
//   SLUICE_FN_URL     the function's base URL (PUT /control/script fixes it)
//   SLUICE_SCREENSHOT where to write the screenshot
//   CHROMIUM          the browser (default /usr/bin/chromium)
// Every step waits for an element or a state; nothing sleeps for a fixed time.
'use strict';

const puppeteer = require('puppeteer-core');

const env = (k) => {
  if (!process.env[k]) throw new Error(k + ' is not set');
  return process.env[k];
};
const ADMIN = env('SLUICE_ADMIN_URL');
const TOKEN = env('SLUICE_TOKEN');
const MAPPING = env('SLUICE_MAPPING');
const RECORD = env('SLUICE_RECORD_ID');
const PURGE = env('SLUICE_PURGE_ID');
const FN = env('SLUICE_FN_URL');
const SHOT = env('SLUICE_SCREENSHOT');
const WAIT = 30000;

function step(what) {
  console.log('step: ' + what);
}

async function api(path) {
  const r = await fetch(ADMIN + path, { headers: { Authorization: 'Bearer ' + TOKEN } });
  if (!r.ok) throw new Error(path + ': ' + r.status);
  return r.json();
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const errors = [];
  const outside = [];
  let tokenGiven = false;
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      // Before the token is given the page's first API calls get 401: that is how it learns
      // to ask. Chromium logs each refused fetch; nothing else may be logged.
      // The 'response' listener below checks that no call is refused once the token is given.
      if (/status of 401/.test(m.text())) return;
      errors.push('console: ' + m.text());
    });
    page.on('pageerror', (e) => errors.push('page error: ' + e.message));
    page.on('requestfailed', (r) => errors.push('request failed: ' + r.url()));
    page.on('response', (r) => {
      if (tokenGiven && r.status() === 401) errors.push('refused with the token: ' + r.url());
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(ADMIN + '/')) outside.push(r.url());
    });

    step('load the page: it asks for the token');
    const resp = await page.goto(ADMIN + '/', { waitUntil: 'load' });
    if (resp.status() !== 200) throw new Error('GET / answered ' + resp.status());
    await page.waitForSelector('#auth:not([hidden]) #token', { visible: true, timeout: WAIT });

    step('a wrong token is refused');
    await page.type('#token', 'not-the-token');
    await page.click('#token-submit');
    await page.waitForFunction(() => /refused/.test(document.getElementById('message').textContent),
      { timeout: WAIT });

    step('give the token');
    tokenGiven = true; // the page has had the wrong token's only 401 (it makes one call first)
    await page.type('#token', TOKEN);
    await page.click('#token-submit');
    const card = `.card[data-mapping="${MAPPING}"]`;
    await page.waitForFunction((sel) => {
      const s = document.querySelector(sel + ' .state');
      return s && s.textContent === 'Enabled';
    }, { timeout: WAIT }, card);
    const stored = await page.evaluate(() => localStorage.length + sessionStorage.length +
      document.cookie.length);
    if (stored !== 0) throw new Error('the page stored something outside the tab memory');

    step('the dead-lettered records are listed, and filtered');
    const row = `#dlq-rows tr[data-record="${RECORD}"]`;
    const other = `#dlq-rows tr[data-record="${PURGE}"]`;
    await page.waitForSelector(row, { timeout: WAIT });
    await page.waitForSelector(other, { timeout: WAIT });
    await page.select('#f-condition', 'RecordAgeExceeded');
    await page.waitForSelector('#dlq-empty:not([hidden])', { timeout: WAIT });
    await page.select('#f-condition', 'RetryAttemptsExhausted');
    await page.select('#f-since', '-15m');
    await page.select('#f-mapping', MAPPING);
    await page.waitForSelector(row, { timeout: WAIT });
    await page.waitForFunction(() => !document.getElementById('dlq-purge-all').disabled,
      { timeout: WAIT });

    step('purge one entry from the page');
    await page.click(other);
    await page.waitForFunction((rec) =>
      !document.getElementById('entry').hidden &&
      document.getElementById('entry-facts').textContent.includes(rec), { timeout: WAIT }, PURGE);
    await page.click('#entry-purge');
    await page.waitForSelector('#confirm[open]', { visible: true, timeout: WAIT });
    await page.click('#confirm-ok');
    await page.waitForFunction((sel) => !document.querySelector(sel), { timeout: WAIT }, other);
    await page.waitForSelector('#entry', { hidden: true, timeout: WAIT });
    if ((await api('/v1/dlq')).entries.some((e) => e.recordId === PURGE))
      throw new Error('the purged entry is still in the DLQ');

    step('show the other entry');
    await page.click(row);
    await page.waitForSelector('#entry:not([hidden])', { visible: true, timeout: WAIT });
    const entry = await page.evaluate(() => ({
      payload: document.getElementById('entry-payload').textContent,
      attempts: document.querySelectorAll('#entry-attempts tr').length,
      onFailure: document.getElementById('entry-onfailure').textContent,
    }));
    if (!entry.payload.includes('"browser"')) throw new Error('payload not shown: ' + entry.payload);
    if (entry.attempts < 1) throw new Error('no attempts shown');
    if (!entry.onFailure.includes('RetryAttemptsExhausted'))
      throw new Error('on-failure record not shown: ' + entry.onFailure);

    step('the errors by outcome show the failed invocation (a 500 is a retryable outcome)');
    await page.waitForFunction((sel) => {
      const n = document.querySelector(sel + ' [data-outcome="retry"]');
      return n && /\((\d+)\)/.test(n.textContent) && Number(/\((\d+)\)/.exec(n.textContent)[1]) >= 1;
    }, { timeout: WAIT }, card);

    step('a cancelled redrive does nothing');
    await page.click('#entry-redrive');
    await page.waitForSelector('#confirm[open]', { visible: true, timeout: WAIT });
    await page.click('#confirm-cancel');
    await page.waitForSelector('#confirm:not([open])', { timeout: WAIT });
    if ((await api('/v1/dlq/tasks')).tasks.some((t) => t.kind === 'redrive'))
      throw new Error('a redrive ran');

    step('fix the function, then redrive from the page');
    const fixed = await fetch(FN + '/control/script', { method: 'PUT', body: '[]' });
    if (!fixed.ok) throw new Error('could not fix the function: ' + fixed.status);
    await page.click('#entry-redrive');
    await page.waitForSelector('#confirm[open]', { visible: true, timeout: WAIT });
    await page.click('#confirm-ok');
    await page.waitForFunction((sel) => !document.querySelector(sel), { timeout: WAIT }, row);
    await page.waitForFunction(() => /1 redriven/.test(document.getElementById('message').textContent),
      { timeout: WAIT });
    if ((await api('/v1/dlq')).entries.length !== 0) throw new Error('the DLQ is not empty');

    step('disable the mapping from the page');
    await page.click(card + ' button.toggle');
    await page.waitForSelector('#confirm[open]', { visible: true, timeout: WAIT });
    await page.click('#confirm-ok');
    await page.waitForFunction((sel) => {
      const s = document.querySelector(sel + ' .state');
      const b = document.querySelector(sel + ' button.toggle');
      return s && s.textContent === 'Disabled' && b.textContent === 'Enable';
    }, { timeout: WAIT }, card);
    const m = await api('/v1/mappings/' + encodeURIComponent(MAPPING));
    if (m.State !== 'Disabled') throw new Error('the API says ' + m.State);

    // The charts have drawn at least the throughput of the record that was delivered.
    const lines = await page.$$eval(card + ' svg polyline', (ps) => ps.length);
    if (lines < 4) throw new Error('charts missing: ' + lines + ' lines');

    await page.screenshot({ path: SHOT, fullPage: true });
    console.log('screenshot: ' + SHOT);
    if (outside.length) throw new Error('requests outside sluice: ' + outside.join(', '));
    if (errors.length) throw new Error('console errors:\n' + errors.join('\n'));
    console.log('ok');
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
