// ui.test.mjs: the supervisor's page in headless Chromium against a running fcrd and PostgreSQL.
//
// Started by tests/integration/test_ui.py, which brings up the throwaway database and the real
// daemon and passes where they are:
//   FCRD_E2E_URL          the API's base URL, e.g. http://127.0.0.1:7879
//   FCRD_E2E_FEED         the feed's HOST:PORT (events are sent there, as a control room would)
//   FCRD_E2E_TOKENS       JSON object: role -> bearer token
//   FCRD_E2E_SHOTS        folder for the screenshots queue.png, incident.png, report.png, audit.png
//   FCRD_E2E_ARTIFACTS    folder for a screenshot of every failing test (optional)
//   FCRD_E2E_RESULTS      file to write the results to, as JSON (optional)
//   CHROMIUM              the browser (default /usr/bin/chromium; never downloaded)
//   FCRD_E2E_TIMEOUT_S    bound on the whole run (default 150)
// Prints "ok - NAME" or "not ok - NAME: why" per test; exit status 1 when any failed, 2 when
// the run could not start or overran its bound.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const BASE = (env.FCRD_E2E_URL || '').replace(/\/$/, '');
const FEED = env.FCRD_E2E_FEED || '';
const TOKENS = JSON.parse(env.FCRD_E2E_TOKENS || '{}');
const SHOTS = env.FCRD_E2E_SHOTS || '';
const ARTIFACTS = env.FCRD_E2E_ARTIFACTS || '';
const CHROMIUM = env.CHROMIUM || '/usr/bin/chromium';
const BOUND_S = Number(env.FCRD_E2E_TIMEOUT_S || 150);
const REFRESH_WAIT_MS = 25000; // the page refreshes its queue every 10 s; allow two rounds and slack

if (!BASE || !FEED || !TOKENS.supervisor) {
  console.error('ui.test.mjs: FCRD_E2E_URL, FCRD_E2E_FEED and FCRD_E2E_TOKENS are required');
  process.exit(2);
}

// The whole run is bounded: a hung browser must fail the suite, not stall it.
setTimeout(() => {
  console.error(`ui.test.mjs: the run exceeded ${BOUND_S} s`);
  process.exit(2);
}, BOUND_S * 1000).unref();

/* ---- the feed: one connection, one reply per line ----------------------------------------- */

class Feed {
  constructor(address) {
    const colon = address.lastIndexOf(':');
    const [host, port] = [address.slice(0, colon), Number(address.slice(colon + 1))];
    this.sock = net.connect({ host, port });
    this.buf = '';
    this.waiting = [];
    this.lines = [];
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiting.shift();
        if (w) w.resolve(line); else this.lines.push(line);
      }
    });
    this.sock.on('error', (e) => { for (const w of this.waiting.splice(0)) w.reject(e); });
  }

  async send(event) {
    const reply = new Promise((resolve, reject) => {
      if (this.lines.length) resolve(this.lines.shift()); else this.waiting.push({ resolve, reject });
    });
    this.sock.write(`${JSON.stringify(event)}\n`);
    const late = new Promise((_, rej) => setTimeout(() => rej(new Error('no feed reply in 30 s')), 30000).unref());
    const text = await Promise.race([reply, late]);
    const r = JSON.parse(text);
    assert.equal(r.status, 'accepted', `feed reply: ${text}`);
    return r;
  }

  close() { this.sock.end(); }
}

/* ---- the API, for checks behind the page's back ------------------------------------------ */

async function api(role, method, p, body) {
  const headers = { Authorization: `Bearer ${TOKENS[role]}` };
  if (body) headers['Content-Type'] = 'application/json';
  const resp = await fetch(BASE + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: resp.status, body: await resp.json().catch(() => null) };
}

/* ---- test data: invented incidents, times relative to now -------------------------------- */

const RUN = randomBytes(3).toString('hex').toUpperCase();
const iso = (msAgo) => new Date(Date.now() - msAgo).toISOString().replace(/\.\d{3}Z$/, 'Z');
const HOUR = 3600 * 1000;
let serial = 0;

function opened(id, at, fields) {
  return {
    v: 1, event_id: `${id}-${++serial}`, type: 'incident.opened', incident_id: id, seq: 1, at, category: 'crime', ...fields,
  };
}

/* A neighbour reports an assault on someone else: third party, victim not yet heard -> pending. */
function thirdParty(id, at, { qualifiers = [], narrative, name } = {}) {
  return opened(id, at, {
    channel: 'emergency_call', qualifiers, reported_by: 'w1',
    narrative: narrative || 'Neighbour hears shouting and a woman crying out next door; a man left in a car.',
    persons: [{ id: 'w1', role: 'third_party', name: 'Neighbour' },
      { id: 'v1', role: 'victim', sex: 'female', name: name || 'Sam Carter', relationships: [{ to: 's1', kind: 'partner' }] },
      { id: 's1', role: 'suspect', sex: 'male' }],
    allegations: [{ id: 'a1', victim: 'v1', suspects: ['s1'], conduct: 'assault.injury',
      occurred_at: at, location: { force_area: 'own', premises: 'dwelling' } }],
  });
}

/* A victim at the front counter reports a rape: recorded at once; cancelling it needs the FCR. */
function rape(id, at) {
  return opened(id, at, {
    channel: 'front_counter', reported_by: 'v1',
    narrative: 'Woman reports she was raped by an acquaintance after a party last night.',
    persons: [{ id: 'v1', role: 'victim', sex: 'female', age: 24, confirms: true, relationships: [{ to: 's1', kind: 'acquaintance' }] },
      { id: 's1', role: 'suspect', sex: 'male', age: 27 }],
    allegations: [{ id: 'a1', victim: 'v1', suspects: ['s1'], conduct: 'rape', location: { force_area: 'own', premises: 'dwelling' } }],
  });
}

/* An allegation whose offence code the rule set does not know: pending, insufficient detail. */
function unknownCode(id, at) {
  return opened(id, at, {
    channel: 'non_emergency_call', reported_by: 'v1',
    narrative: 'Shop manager reports something taken from the stockroom; the handler could not code it.',
    persons: [{ id: 'v1', role: 'victim', kind: 'organisation', name: 'Corner Hardware Ltd', confirms: true }],
    allegations: [{ id: 'a1', victim: 'v1', offence: 'ZZ99', location: { force_area: 'own', premises: 'business' } }],
  });
}

const HOSTILE = '<script>window.__fcrdInjected = 1</script><img src=x onerror="window.__fcrdInjected = 2">' +
  '<b id="injected-bold">bold?</b> & "quotes" \'apostrophes\'';

/* ---- the runner --------------------------------------------------------------------------- */

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const ctx = {}; // what the tests hand on to each other

let context, page;
const consoleErrors = [];
const foreignRequests = [];

/* Sign out and in again with another role's token; the page returns to the view it was on. */
async function signIn(role) {
  if (await page.isVisible('#sign-out')) await page.click('#sign-out');
  await page.waitForSelector('#view-signin:not([hidden])');
  await page.fill('#token', TOKENS[role]);
  await page.click('#signin button[type="submit"]');
  await page.waitForSelector('#nav:not([hidden])');
}

async function openIncident(id) {
  await page.fill('#find-id', id);
  await page.press('#find-id', 'Enter');
  await page.waitForSelector(`#view-incident:not([hidden]) #incident-body section`);
  await page.waitForFunction((i) => document.querySelector('#incident-title').textContent === `Incident ${i}`, id);
}

async function shot(name, fullPage) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: !!fullPage, animations: 'disabled', caret: 'hide' });
}

/* WCAG contrast of every visible piece of text against what lies behind it. */
function contrastProblems() {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let base = { r: 255, g: 255, b: 255 };
    for (const c of layers.reverse()) {
      base = { r: c.r * c.a + base.r * (1 - c.a), g: c.g * c.a + base.g * (1 - c.a), b: c.b * c.a + base.b * (1 - c.a) };
    }
    return base;
  };
  const bad = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest('.sr-only, svg, [disabled]')) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const st = getComputedStyle(el);
    const fg = parse(st.color);
    const bg = behind(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (Number(st.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${n.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
  }
  return bad;
}

/* Controls a screen reader could not name. */
function unlabelled() {
  const out = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) out.push(`#${el.id || el.tagName}`);
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!(el.getAttribute('aria-label') || el.textContent.trim())) out.push(el.outerHTML.slice(0, 60));
  }
  for (const t of document.querySelectorAll('table')) {
    if (!t.querySelector('caption') && !t.getAttribute('aria-label')) out.push('a table without a caption');
  }
  return out;
}

/* ---- the tests ---------------------------------------------------------------------------- */

test('page_is_self_contained_and_strict', async () => {
  const resp = await page.goto(`${BASE}/`);
  assert.equal(resp.status(), 200);
  const h = resp.headers();
  assert.match(h['content-security-policy'] || '', /default-src 'self'/);
  assert.match(h['content-security-policy'] || '', /frame-ancestors 'none'/);
  assert.doesNotMatch(h['content-security-policy'] || '', /unsafe-inline|unsafe-eval/);
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['referrer-policy'], 'no-referrer');
  await page.waitForSelector('#view-signin:not([hidden])');
  const scripts = await page.$$eval('script', (ss) => ss.map((s) => s.getAttribute('src')));
  assert.deepEqual(scripts, ['/ui/app.js'], 'one script, from fcrd, none inline');
  assert.equal(await page.$$eval('[style]', (x) => x.length), 0, 'no inline style');
  assert.equal(await page.getAttribute('html', 'lang'), 'en-GB');
});

test('sign_in_refuses_a_wrong_token', async () => {
  await page.fill('#token', 'not-a-token-of-this-force');
  await page.click('#signin button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#signin-error').textContent.includes('not accepted'));
  assert.ok(await page.isVisible('#view-signin'));
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.fill('#token', TOKENS.ops);
  await page.click('#signin button[type="submit"]');
  await page.waitForFunction(() => /metrics/.test(document.querySelector('#signin-error').textContent));
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'an ops token is not kept');
});

test('sign_in_by_keyboard_keeps_the_token_out_of_urls', async () => {
  await page.goto(`${BASE}/`);
  await page.waitForSelector('#view-signin:not([hidden])');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  for (let i = 0; i < 6 && await page.evaluate(() => document.activeElement.id) !== 'token'; i++) await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'token', 'the token field is reached by Tab');
  await page.keyboard.type(TOKENS.supervisor);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'purpose', 'then the purpose field');
  await page.keyboard.type('E2E quality check');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-queue:not([hidden])');
  const stored = await page.evaluate(() => ({ s: sessionStorage.getItem('fcrd.token'), l: localStorage.length, c: document.cookie }));
  assert.equal(stored.s, TOKENS.supervisor, 'kept in session storage');
  assert.equal(stored.l, 0, 'nothing in local storage');
  assert.equal(stored.c, '', 'no cookie');
  assert.ok(!page.url().includes(TOKENS.supervisor), 'not in the address');
  assert.equal(await page.inputValue('#token'), '', 'the field is emptied');
  ctx.requestUrls = [];
});

test('pending_item_from_the_feed_appears_by_itself', async () => {
  const feed = new Feed(FEED);
  try {
    // Background for the queue: one long overdue, one due within the hour, one without a code.
    ctx.overdue = `E2E-${RUN}-OVERDUE`;
    await feed.send(thirdParty(ctx.overdue, iso(27 * HOUR), { qualifiers: ['hate'], name: 'Ali Rahman',
      narrative: 'Caller says a man shouting racist abuse pushed a shop worker over.' }));
    ctx.soon = `E2E-${RUN}-SOON`;
    await feed.send(thirdParty(ctx.soon, iso(23.3 * HOUR), { qualifiers: ['domestic'], name: 'Jo Price' }));
    await feed.send(unknownCode(`E2E-${RUN}-CODE`, iso(5 * HOUR)));
    ctx.rape = `E2E-${RUN}-RAPE`;
    const rr = await feed.send(rape(ctx.rape, iso(2 * HOUR)));
    ctx.rapeCrn = rr.crimes[0].crn;
    // The page is already showing the queue; the new items must turn up without a click.
    ctx.incident = `E2E-${RUN}-DA`;
    const r = await feed.send(thirdParty(ctx.incident, iso(60 * 1000), { qualifiers: ['domestic'] }));
    ctx.pending = r.pending[0].id;
    ctx.overduePending = (await api('supervisor', 'GET', `/v1/incidents/${ctx.overdue}`)).body.pending[0].id;
  } finally {
    feed.close();
  }
  const row = `#queue-table tbody tr[data-pending="${ctx.pending}"]`;
  await page.waitForSelector(row, { timeout: REFRESH_WAIT_MS });
  assert.match(await page.textContent(`${row} .left`), /^2[23] h \d\d min left$/, 'a live countdown to the 24-hour deadline');
  assert.match(await page.textContent(row), /Domestic abuse/);
  const late = `#queue-table tbody tr[data-pending="${ctx.overduePending}"]`;
  assert.match(await page.getAttribute(late, 'class'), /overdue/);
  assert.match(await page.textContent(`${late} .left`), /^Overdue by \d+ h \d\d min$/);
  const order = await page.$$eval('#queue-table tbody tr[data-pending]', (rs) => rs.map((r) => r.dataset.pending));
  assert.ok(order.indexOf(ctx.overduePending) < order.indexOf(ctx.pending), 'soonest due first');
  // Under an hour left: marked as due soon, and the countdown moves by the second.
  const soon = (await api('supervisor', 'GET', `/v1/incidents/${ctx.soon}`)).body.pending[0].id;
  const soonLeft = `#queue-table tbody tr[data-pending="${soon}"] .left`;
  assert.match(await page.getAttribute(`#queue-table tbody tr[data-pending="${soon}"]`, 'class'), /soon/);
  const before = await page.textContent(soonLeft);
  assert.match(before, /^\d+ min \d\d s left$/);
  await page.waitForFunction(([sel, b]) => document.querySelector(sel).textContent !== b, [soonLeft, before], { timeout: 5000 });
  await shot('queue.png');
});

test('queue_updates_live_from_the_stream', async () => {
  await page.waitForSelector('#live[data-mode="live"]', { timeout: 10000 });
  assert.equal((await page.textContent('#live')).trim(), 'Live');
  const feed = new Feed(FEED);
  let id;
  try {
    id = (await feed.send(thirdParty(`E2E-${RUN}-LIVE`, iso(30 * 60 * 1000)))).pending[0].id;
  } finally {
    feed.close();
  }
  // While the stream is open the page does not poll: the row can only come from the stream's
  // event, and well within the polling interval.
  await page.waitForSelector(`#queue-table tbody tr[data-pending="${id}"]`, { timeout: 5000 });
});

test('cut_stream_falls_back_to_polling', async () => {
  // Cut the open stream (the browser goes offline for a moment) and refuse new ones.
  await page.route('**/v1/stream', (r) => r.abort());
  try {
    await context.setOffline(true);
    await page.waitForSelector('#live[data-mode="polling"]', { timeout: 10000 });
    await context.setOffline(false);
    assert.equal((await page.textContent('#live')).trim(), 'Polling');
    const feed = new Feed(FEED);
    let id;
    try {
      id = (await feed.send(thirdParty(`E2E-${RUN}-POLL`, iso(40 * 60 * 1000)))).pending[0].id;
    } finally {
      feed.close();
    }
    await page.waitForSelector(`#queue-table tbody tr[data-pending="${id}"]`, { timeout: REFRESH_WAIT_MS });
    assert.equal(await page.getAttribute('#live', 'data-mode'), 'polling');
  } finally {
    await context.setOffline(false);
    await page.unroute('**/v1/stream');
  }
});

test('queue_filters_by_flag_and_reason', async () => {
  const first = await page.$$eval('#f-flag option', (os) => os.map((o) => o.value));
  assert.equal(first[1], 'domestic_abuse', 'domestic abuse heads the flag filter');
  await page.selectOption('#f-flag', 'domestic_abuse');
  await page.waitForFunction(() => /filtered by flag: Domestic abuse/.test(document.querySelector('#queue-summary').textContent));
  const flagged = await page.$$eval('#queue-table tbody tr[data-pending]', (rs) => rs.map((r) => r.textContent));
  assert.ok(flagged.length >= 2 && flagged.every((t) => t.includes('Domestic abuse')), 'only domestic abuse items');
  await page.selectOption('#f-flag', '');
  await page.selectOption('#f-reason', 'insufficient_detail');
  await page.waitForFunction(() => /reason: Insufficient detail/.test(document.querySelector('#queue-summary').textContent));
  const ids = await page.$$eval('#queue-table tbody tr[data-pending]', (rs) => rs.map((r) => r.textContent));
  assert.ok(ids.length >= 1 && ids.every((t) => t.includes('Insufficient detail')));
  await page.selectOption('#f-reason', '');
  await page.check('#f-overdue');
  await page.waitForFunction(() => /overdue only/.test(document.querySelector('#queue-summary').textContent));
  const rows = await page.$$eval('#queue-table tbody tr[data-pending]', (rs) => rs.map((r) => r.className));
  assert.ok(rows.length >= 1 && rows.every((c) => c.includes('overdue')));
  await page.uncheck('#f-overdue');
  await page.waitForSelector(`#queue-table tbody tr[data-pending="${ctx.pending}"]`);
});

test('keyboard_opens_and_closes_a_decision', async () => {
  const target = `button[data-decide="${ctx.pending}"]`;
  await page.focus('#f-overdue');
  const onTarget = () => page.evaluate((t) => document.activeElement.matches(t), target);
  for (let i = 0; i < 80 && !(await onTarget()); i++) await page.keyboard.press('Tab');
  assert.ok(await page.evaluate((t) => document.activeElement.matches(t), target), 'the Decide button is reached by Tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#dlg-decide[open]');
  assert.ok(await page.evaluate(() => document.querySelector('#dlg-decide').contains(document.activeElement)),
    'focus moves into the dialog');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#dlg-decide[open]', { state: 'detached' });
  assert.ok(await page.evaluate((t) => document.activeElement.matches(t), target), 'focus returns to the button');
});

test('deciding_removes_the_item_and_its_crime_appears', async () => {
  await page.click(`button[data-decide="${ctx.pending}"]`);
  await page.waitForSelector('#dlg-decide[open]');
  assert.equal(await page.inputValue('#d-offence'), '8N', 'the candidate offence is offered');
  assert.equal(await page.inputValue('#d-victim'), 'v1');
  await page.check('#d-record');
  await page.fill('#d-rationale', 'Victim spoken to by the attending officer and confirms the assault.');
  await page.click('#decide-form button[type="submit"]');
  await page.waitForSelector('#dlg-decide[open]', { state: 'detached' });
  await page.waitForFunction((id) => new RegExp(`${id} closed: record, crime \\S+ recorded`)
    .test(document.querySelector('#status').textContent), ctx.pending);
  await page.waitForSelector(`#queue-table tbody tr[data-pending="${ctx.pending}"]`, { state: 'detached' });
  const crimes = (await api('auditor', 'GET', `/v1/incidents/${ctx.incident}`)).body.crimes;
  assert.equal(crimes.length, 1);
  ctx.crn = crimes[0].crn;
  await openIncident(ctx.incident);
  const row = `#incident-body tr[data-crn="${ctx.crn}"]`;
  await page.waitForSelector(row);
  assert.match(await page.textContent(row), /8N/);
  assert.match(await page.textContent(row), /recorded/);
  assert.match(await page.textContent('#incident-body'), /No decision is open on this incident/);
});

test('incident_shows_events_persons_allegations_decisions_and_audit', async () => {
  const feed = new Feed(FEED);
  try {
    await feed.send({ v: 1, event_id: `${ctx.incident}-upd`, type: 'incident.updated', incident_id: ctx.incident, seq: 2,
      at: iso(0), narrative: 'Officer attended. Victim has a cut lip and confirms what happened.',
      persons: [{ id: 'v1', role: 'victim', sex: 'female', name: 'Sam Carter', age: 34, confirms: true,
        relationships: [{ to: 's1', kind: 'partner' }] }] });
  } finally {
    feed.close();
  }
  await page.click('#incident-refresh');
  await page.waitForFunction(() => document.querySelectorAll('#incident-body tr[data-event]').length === 2);
  const seqs = await page.$$eval('#incident-body tr[data-event] td:first-child', (c) => c.map((x) => x.textContent));
  assert.deepEqual(seqs, ['1', '2'], 'events in sequence order');
  assert.match(await page.textContent('#incident-body tr[data-event]:first-child'), /Neighbour hears shouting/);
  assert.match(await page.textContent('#incident-body tr[data-person="v1"]'), /Sam Carter.*34.*confirms/);
  const al = await page.textContent('#incident-body tr[data-allegation="a1"]');
  assert.match(al, /assault\.injury/);
  assert.match(al, /Recorded/);
  assert.ok(al.includes(ctx.crn), 'the decision names its crime');
  assert.match(al, /HOCR-/, 'with its rule ids');
  const audit = await page.$$eval('#incident-body tr[data-audit]', (rs) => rs.map((r) => r.textContent));
  assert.ok(audit.some((t) => /supervisor/.test(t)), 'the person\'s decision is in the trail');
  assert.ok(audit.some((t) => t.includes('crime.recorded')));
  const access = await page.$$eval('#incident-body tr[data-access]', (rs) => rs.map((r) => r.textContent));
  assert.ok(access.some((t) => /supervisor/.test(t) && t.includes('/v1/incidents/{incident_id}') &&
    t.includes('E2E quality check')), 'the access history shows who looked at the incident, and why');
  assert.ok(await page.isVisible('#incident-body tr[data-crn] button[data-cancel]'));
  await shot('incident.png', true);
});

test('forbidden_actions_show_the_refusal', async () => {
  // A supervisor may decide but not cancel.
  await page.click(`button[data-cancel="${ctx.crn}"]`);
  await page.waitForSelector('#dlg-cancel[open]');
  await page.selectOption('#c-reason', 'C4');
  await page.fill('#c-rationale', 'Trying to cancel without the authority to.');
  await page.click('#cancel-form button[type="submit"]');
  await page.waitForFunction(() => /Refused/.test(document.querySelector('#cancel-error').textContent));
  const text = await page.textContent('#cancel-error');
  assert.match(text, /Your role may not cancel this crime/);
  assert.match(text, /403 \(forbidden\)/);
  assert.ok(await page.isVisible('#dlg-cancel[open]'), 'the form stays open with the reason');
  await page.keyboard.press('Escape');
  const after = await api('auditor', 'GET', `/v1/crimes/${encodeURIComponent(ctx.crn)}`);
  assert.equal(after.body.status, 'recorded', 'nothing changed');

  // An auditor may read, not decide.
  await signIn('auditor');
  await page.click('#nav a[data-view="queue"]');
  await page.waitForSelector(`button[data-decide="${ctx.overduePending}"]`);
  await page.click(`button[data-decide="${ctx.overduePending}"]`);
  await page.fill('#d-rationale', 'Auditors cannot decide.');
  await page.click('#decide-form button[type="submit"]');
  await page.waitForFunction(() => /Refused/.test(document.querySelector('#decide-error').textContent));
  assert.match(await page.textContent('#decide-error'), /may not decide pending items.*403 \(forbidden\)/s);
  await page.keyboard.press('Escape');

  // A DDM may cancel most crimes, but a rape only the FCR.
  await signIn('ddm');
  await openIncident(ctx.rape);
  await page.click(`button[data-cancel="${ctx.rapeCrn}"]`);
  await page.selectOption('#c-reason', 'C4');
  await page.fill('#c-rationale', 'Keyed against the wrong incident.');
  await page.click('#cancel-form button[type="submit"]');
  await page.waitForFunction(() => /Refused/.test(document.querySelector('#cancel-error').textContent));
  assert.match(await page.textContent('#cancel-error'), /need the FCR.*403 \((forbidden|fcr_required)\)/s);
  await page.keyboard.press('Escape');
  assert.equal((await api('auditor', 'GET', `/v1/crimes/${encodeURIComponent(ctx.rapeCrn)}`)).body.status, 'recorded');

  // A rule's refusal (422) is shown the same way: reclassifying to the same offence.
  await page.click(`button[data-reclassify="${ctx.rapeCrn}"]`);
  await page.fill('#r-offence', '19C');
  await page.fill('#r-rationale', 'No change really.');
  await page.click('#reclassify-form button[type="submit"]');
  await page.waitForFunction(() => /Refused/.test(document.querySelector('#reclassify-error').textContent));
  assert.match(await page.textContent('#reclassify-error'), /already the crime's offence.*422 \(offence_unchanged\)/s);
  await page.keyboard.press('Escape');
});

test('no_crime_reclassify_and_cancel_by_those_allowed', async () => {
  // A DDM (signed in by the previous test) closes an item as no crime, with a reason.
  await page.click('#nav a[data-view="queue"]');
  const soon = (await api('auditor', 'GET', `/v1/incidents/${ctx.soon}`)).body.pending[0].id;
  await page.click(`button[data-decide="${soon}"]`);
  await page.check('#d-no-crime');
  assert.ok(await page.isHidden('#d-offence'), 'only the fields of the chosen decision are shown');
  await page.selectOption('#d-reason', 'victim_does_not_confirm');
  await page.fill('#d-rationale', 'Victim traced and spoken to: nothing happened that she wants recorded.');
  await page.click('#decide-form button[type="submit"]');
  await page.waitForSelector(`#queue-table tbody tr[data-pending="${soon}"]`, { state: 'detached' });
  const closed = (await api('auditor', 'GET', `/v1/incidents/${ctx.soon}`)).body;
  assert.deepEqual(closed.pending, []);
  assert.deepEqual(closed.crimes, [], 'no crime recorded');

  // The DDM reclassifies the assault.
  await openIncident(ctx.incident);
  await page.click(`button[data-reclassify="${ctx.crn}"]`);
  await page.fill('#r-offence', '105A');
  await page.fill('#r-rationale', 'No injury after all: the cut lip was from an earlier fall.');
  await page.click('#reclassify-form button[type="submit"]');
  await page.waitForFunction((crn) => document.querySelector('#status').textContent
    .includes(`${crn} reclassified as 105A`), ctx.crn);
  await page.waitForFunction((crn) => /105A/.test(document.querySelector(`#incident-body tr[data-crn="${crn}"]`)
    .textContent), ctx.crn);

  // The FCR may cancel the rape the DDM could not.
  await signIn('fcr');
  await openIncident(ctx.rape);
  await page.click(`button[data-cancel="${ctx.rapeCrn}"]`);
  await page.selectOption('#c-reason', 'C4');
  await page.fill('#c-rationale', 'Keyed against the wrong incident; the report is recorded on the right one.');
  await page.click('#cancel-form button[type="submit"]');
  const row = `#incident-body tr[data-crn="${ctx.rapeCrn}"]`;
  await page.waitForFunction((sel) => /cancelled/.test(document.querySelector(sel).textContent), row);
  assert.equal(await page.$$eval(`${row} button`, (b) => b.length), 0, 'a cancelled crime offers no more actions');
  const trail = await page.$$eval('#incident-body tr[data-audit]', (rs) => rs.map((r) => r.textContent));
  assert.ok(trail.some((t) => /crime\.cancelled/.test(t) && /\(fcr\)/.test(t)),
    'the cancellation is in the trail with who did it');
});

test('injected_markup_in_a_narrative_is_shown_as_text', async () => {
  const id = `E2E-${RUN}-XSS`;
  const feed = new Feed(FEED);
  try {
    const ev = thirdParty(id, iso(10 * 60 * 1000), { narrative: HOSTILE, name: '<i id="injected-italic">Eve</i>' });
    ev.allegations[0].note = '<svg onload="window.__fcrdInjected = 3"></svg>';
    await feed.send(ev);
  } finally {
    feed.close();
  }
  const violations = [];
  page.on('console', (m) => { if (/Content Security Policy|Trusted Type/i.test(m.text())) violations.push(m.text()); });
  await openIncident(id);
  const cell = await page.textContent('#incident-body tr[data-event] td.narrative');
  assert.equal(cell, HOSTILE, 'the narrative reads exactly as sent');
  assert.match(await page.textContent('#incident-body tr[data-person="v1"]'), /<i id="injected-italic">Eve<\/i>/);
  const found = await page.evaluate(() => ({
    flag: window.__fcrdInjected,
    scripts: document.scripts.length,
    planted: document.querySelectorAll(
      '#injected-bold, #injected-italic, #incident-body img, #incident-body svg, #incident-body b').length,
  }));
  assert.equal(found.flag, undefined, 'no injected script ran');
  assert.equal(found.scripts, 1, 'no script element was added');
  assert.equal(found.planted, 0, 'no injected element exists');
  // The queue shows the same incident's item: also as text.
  await page.click('#nav a[data-view="queue"]');
  await page.waitForSelector(`#queue-table a:text-is("${id}")`);
  assert.equal(await page.evaluate(() => window.__fcrdInjected), undefined);
  assert.deepEqual(violations, [], 'nothing even tried to get past the policy');
});

test('self_audit_shows_rates_with_intervals_and_a_chart', async () => {
  await page.click('#nav a[data-view="report"]');
  await page.waitForSelector('#report-body table');
  const figures = await page.textContent('#report-body dl.figures');
  assert.match(figures, /Recording rate, all crime\s*\d+\.\d%\s*95% interval \d+\.\d% to \d+\.\d%/);
  assert.match(figures, /Recorded at first contact\s*\d+\.\d%/);
  assert.match(figures, /Recorded within 24 hours\s*\d+\.\d%/);
  assert.match(figures, /Decisions overdue\s*[1-9]\d*/, 'the overdue decision is counted');
  assert.ok(await page.$$eval('#report-body svg rect.bar', (r) => r.length) >= 1, 'a bar per kind of crime with crimes');
  assert.ok(await page.$$eval('#report-body svg line.whisker', (r) => r.length) >= 3, 'with its interval');
  assert.match(await page.getAttribute('#report-body svg', 'role'), /img/);
  await shot('report.png', true);
});

test('independent_audit_draws_a_sample_and_records_verdicts', async () => {
  await signIn('auditor');
  await page.click('#nav a[data-view="audits"]');
  await page.waitForSelector('#view-audits:not([hidden]) #audits-home:not([hidden])');
  await page.waitForSelector('#audits-list p, #audits-list table');
  assert.deepEqual(await page.evaluate(unlabelled), [], 'the audit form: every control has a name');
  assert.deepEqual(await page.evaluate(contrastProblems), [], 'the audit form: contrast');
  const seed = `e2e-${RUN}`;
  await page.fill('#a-size', '3');
  await page.fill('#a-seed', seed);
  await page.check('#a-s-category');
  await page.click('#audit-form button[type="submit"]');
  await page.waitForSelector('#audit-one:not([hidden]) #audit-results table');
  await page.waitForSelector('#audit-incident h2');
  const id = await page.evaluate(() => location.hash.slice('#/audits/'.length));
  assert.match(id, /^\d+$/, 'the page went to the audit drawn');
  const drawn = await api('auditor', 'GET', `/v1/audits/${id}`);
  assert.equal(drawn.status, 200);
  const items = drawn.body.items;
  assert.ok(items.length >= 2, `the sample holds incidents of the tests before: ${JSON.stringify(items)}`);
  assert.deepEqual(drawn.body.strata, ['category']);
  assert.equal(drawn.body.seed, seed);
  // The same seed over the same period draws the same incidents.
  const again = await api('auditor', 'POST', '/v1/audits',
    { from: drawn.body.from, to: drawn.body.to, size: 3, seed, strata: ['category'] });
  assert.deepEqual(again.body.items.map((i) => i.incident_id), items.map((i) => i.incident_id));

  // The first item: the incident beside the form.
  assert.equal(await page.textContent('#audit-incident h2'), `Incident ${items[0].incident_id}`);
  assert.match(await page.textContent('#verdict-about'), new RegExp(`^Item 1 of ${items.length} · incident `));
  await page.waitForSelector('#audit-incident section h3:text-is("What was reported")');
  await page.waitForSelector('#audit-incident section h3:text-is("What fcrd recorded")');
  assert.equal(await page.isVisible('#v-offence'), false, 'no offence asked for a correct verdict');
  await page.check('#v-crime_missed');
  assert.equal(await page.isVisible('#v-offence'), true, 'a missed crime needs its offence');
  await page.click('#verdict-form button[type="submit"]');
  assert.match(await page.textContent('#verdict-error'), /Give the offence/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'v-offence');
  await page.fill('#v-offence', '8N');
  await page.fill('#v-note', 'The narrative describes an assault with injury.');
  await page.click('#verdict-form button[type="submit"]');
  await page.waitForFunction((n) => document.querySelector('#verdict-about').textContent.startsWith(`Item 2 of ${n}`),
    items.length);
  await page.waitForFunction((i) => document.querySelector('#audit-incident h2')?.textContent === `Incident ${i}`,
    items[1].incident_id);
  // The second: correct, by keyboard.
  await page.focus('#v-correct');
  await page.keyboard.press('Space');
  await page.focus('#verdict-form button[type="submit"]');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Reviewed\s*2 of/.test(document.querySelector('#audit-results').textContent));

  const after = await api('auditor', 'GET', `/v1/audits/${id}`);
  const v0 = after.body.items[0].verdict, v1 = after.body.items[1].verdict;
  assert.deepEqual([v0.verdict, v0.offence, v0.note, v0.role], ['crime_missed', '8N',
    'The narrative describes an assault with injury.', 'auditor']);
  assert.deepEqual([v1.verdict, v1.role], ['correct', 'auditor']);
  const overall = after.body.results.overall;
  assert.equal(overall.reviewed, 2);
  // The page shows the API's figures: the rate of the whole sample and a row per stratum.
  const figures = await page.textContent('#audit-results dl.figures');
  assert.ok(figures.includes(`Recording rate${overall.recording_rate === null ? '—'
    : `${(overall.recording_rate * 100).toFixed(1)}%`}`), figures);
  assert.match(figures, /fcrd agreed with the auditor\s*50\.0%/);
  for (const st of after.body.results.strata) {
    const row = await page.textContent(`#audit-results tr[data-stratum="${st.stratum}"]`);
    assert.ok(row.includes(`${st.sampled}${st.reviewed}`), row);
  }
  assert.match(await page.textContent(`#audit-items tr[data-item="${items[0].incident_id}"]`), /Crime missed\s*8N/);

  // Back to the first: its verdict is shown and can be replaced.
  await page.click('#verdict-prev');
  if (items.length > 2) {
    await page.waitForFunction(() => document.querySelector('#verdict-about').textContent.startsWith('Item 2'));
    await page.click('#verdict-prev');
  }
  await page.waitForFunction(() => document.querySelector('#verdict-about').textContent.startsWith('Item 1'));
  assert.match(await page.textContent('#verdict-about'), /verdict given: Crime missed/);
  assert.equal(await page.isChecked('#v-crime_missed'), true);
  await page.waitForSelector('#audit-incident section');
  assert.deepEqual(await page.evaluate(unlabelled), [], 'the review: every control has a name');
  assert.deepEqual(await page.evaluate(contrastProblems), [], 'the review: contrast');
  await shot('audit.png', true);
});

test('labelled_for_screen_readers_and_readable_in_contrast', async () => {
  const views = [['#/queue', '#queue-table tbody tr'],
    [`#/incident/${encodeURIComponent(ctx.incident)}`, '#incident-body section'], ['#/report', '#report-body table']];
  for (const [view, ready] of views) {
    await page.evaluate((v) => { location.hash = v; }, view);
    await page.waitForSelector(`${ready}`);
    await page.waitForTimeout(200);
    assert.deepEqual(await page.evaluate(unlabelled), [], `${view}: every control has a name`);
    assert.deepEqual(await page.evaluate(contrastProblems), [], `${view}: contrast`);
  }
  await page.click(`#nav a[data-view="queue"]`);
  await page.waitForSelector('#queue-table tbody tr[data-pending].overdue');
  await page.click('#queue-table tbody tr[data-pending] button[data-decide]');
  await page.waitForSelector('#dlg-decide[open]');
  assert.deepEqual(await page.evaluate(unlabelled), [], 'the decision form');
  assert.deepEqual(await page.evaluate(contrastProblems), [], 'the decision form: contrast');
  await page.keyboard.press('Escape');
});

test('sign_out_forgets_the_token', async () => {
  await page.click('#sign-out');
  await page.waitForSelector('#view-signin:not([hidden])');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('fcrd.token')), null);
  assert.equal(await page.$$eval('#queue-table tbody tr', (r) => r.length), 0, 'nothing left on the page');
  assert.deepEqual(foreignRequests, [], 'nothing was fetched from outside fcrd');
  assert.deepEqual(consoleErrors, [], 'no script errors');
});

/* ---- main --------------------------------------------------------------------------------- */

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fcrd-e2e-chromium-'));
  const results = [];
  let exitCode = 0;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      viewport: { width: 1280, height: 800 },
      locale: 'en-GB',
      timezoneId: 'Europe/London',
      colorScheme: 'light',
      reducedMotion: 'reduce',
    });
  } catch (e) {
    console.error(`ui.test.mjs: cannot start Chromium (${CHROMIUM}): ${e.message}`);
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(2);
  }
  try {
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    // The browser logs every refused request as an error; those are the tests' own doing.
    page.on('console', (m) => {
      // A stream cut on purpose (cut_stream_falls_back_to_polling) is the test's doing too.
      const cut = /\/v1\/(stream|pending)/.test((m.location() || {}).url || '') || /ERR_INTERNET_DISCONNECTED/.test(m.text());
      if (m.type() === 'error' && !/status of 40[1-9]|status of 422/.test(m.text()) && !cut) consoleErrors.push(m.text());
    });
    page.on('request', (r) => { if (!r.url().startsWith(`${BASE}/`)) foreignRequests.push(r.url()); });
    for (const t of tests) {
      const started = Date.now();
      try {
        await t.fn();
        results.push({ name: t.name, ok: true, ms: Date.now() - started });
        console.log(`ok - ${t.name} (${Date.now() - started} ms)`);
      } catch (e) {
        exitCode = 1;
        const why = (e && e.message ? e.message : String(e)).split('\n').slice(0, 12).join('\n');
        results.push({ name: t.name, ok: false, error: why, ms: Date.now() - started });
        console.log(`not ok - ${t.name}: ${why}`);
        if (ARTIFACTS) {
          fs.mkdirSync(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: path.join(ARTIFACTS, `failed-${t.name}.png`), fullPage: true }).catch(() => {});
        }
        // A dialog left open would block every later test: one failure should stay one.
        await page.evaluate(() => { for (const d of document.querySelectorAll('dialog[open]')) d.close(); }).catch(() => {});
      }
    }
  } finally {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (env.FCRD_E2E_RESULTS) fs.writeFileSync(env.FCRD_E2E_RESULTS, JSON.stringify(results, null, 1));
  const passed = results.filter((r) => r.ok).length;
  console.log(`ui.test.mjs: ${passed} passed, ${results.length - passed} failed`);
  process.exit(exitCode);
}

main().catch((e) => {
  console.error(`ui.test.mjs: ${e && e.stack ? e.stack : e}`);
  process.exit(2);
});
