/* app.js: the supervisor's page: sign in with a bearer token, the queue of pending decisions,
 * one incident in full, people's decisions, the self-audit figures, and independent audits
 * (draw a sample, review it incident by incident, see the results).
 *
 * Every piece of text from the API reaches the page as a text node (textContent, append with a
 * string, setAttribute on plain attributes); nothing is ever parsed as HTML, and the server's
 * Content-Security-Policy makes Chromium refuse it if anything tried. The token lives in
 * sessionStorage (this tab, until sign-out or the tab closes) and only ever travels in the
 * Authorization header: the live updates (GET /v1/stream) are read with fetch for that reason,
 * not with EventSource, which cannot send a header and would need the token in the URL. */
'use strict';

(() => {
  const TOKEN_KEY = 'fcrd.token';
  const REFRESH_MS = 10000;       // the queue reloads itself this often
  const SOON_MS = 2 * 3600 * 1000; // under this much time left, a decision is marked "due soon"
  const REQUEST_MS = 20000;       // give up on an answer after this long
  const LIST_CAP = 1000;          // most items fetched for one list (pages of 200)
  const STATUS_MS = 20000;        // a status message stays this long
  const STREAM_RETRY_MS = [1000, 2000, 5000, 10000, 30000, 60000]; // a dropped stream is retried after these

  /* ---- vocabularies (feed contract, section 6), in plain words ---------------------------- */

  const FLAGS = {
    domestic_abuse: 'Domestic abuse', hate: 'Hate', knife: 'Knife', firearm: 'Firearm', online: 'Online',
    child_sexual_abuse: 'Child sexual abuse', modern_slavery: 'Modern slavery', honour_based: 'Honour-based',
    corrosive: 'Corrosive substance', emergency_worker: 'Emergency worker',
  };
  const REASONS = {
    third_party_unconfirmed: 'Third-party report, victim not yet heard',
    victim_does_not_confirm: 'Victim does not confirm', victim_not_traced: 'Victim not traced',
    evidence_against: 'Evidence against', points_not_proved: 'Points to prove not yet met',
    other_force_area: 'Other force area', abroad: 'Abroad', schools_protocol: 'Schools protocol',
    police_only_witness: 'Police the only witness', insufficient_detail: 'Insufficient detail',
    possible_crime: 'Possible hidden crime', closed_without_crime: 'Closed without a crime',
    retraction_review: 'Retraction review',
    reclassification_review: 'Lower offence proposed by the feed: review',
    possible_duplicate: 'Possible duplicate of another incident',
  };
  const OUTCOMES = {
    recorded: 'Recorded', counted_in: 'Counted in another crime', pending: 'Pending decision',
    not_recorded: 'Not recorded', referred: 'Referred', held: 'Held (N100)', transfer: 'Transfer',
  };
  const STRATA = {
    all_crime: 'All crime (excluding fraud)', violence_against_the_person: 'Violence against the person',
    sexual_offences: 'Sexual offences', rape: 'Rape', domestic_abuse: 'Domestic abuse',
  };
  /* What a refusal means for the person at the screen; the API's own words follow it. */
  const REFUSALS = {
    unauthorized: 'Your token was not accepted. Sign in again.',
    forbidden: 'Your role may not do this.',
    not_found: 'It no longer exists, or never did.',
    state_conflict: 'This has already been dealt with: it is no longer open to this action.',
    bad_field: 'Something in the form needs correcting.',
    bad_json: 'The request could not be read.',
    offence_required: 'Give the offence to record: the item has no candidate offence.',
    unknown_offence: 'That offence code is not in the rule set.',
    victim_required: 'This offence needs a victim: give the victim\'s person id.',
    unknown_person: 'That person is not part of this incident.',
    avi_required: 'Cancelling under C2 needs the additional verifiable information.',
    to_force_required: 'Say which force or agency takes it.',
    victim_not_informed: 'For this offence, record when the victim was told.',
    offence_unchanged: 'That is already the crime\'s offence.',
    db_unavailable: 'The database cannot be reached just now. Nothing was written; try again shortly.',
    overloaded: 'fcrd is too busy just now. Nothing was written; try again shortly.',
    network: 'fcrd could not be reached. Nothing was written.',
  };

  /* ---- small DOM helpers: text only, never HTML ------------------------------------------ */

  const $ = (id) => document.getElementById(id);

  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof Node ? k : String(k));
    }
    return el;
  }

  function setProps(el, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.setAttribute('class', v);
      else if (k === 'text') el.textContent = String(v);
      else if (k.startsWith('on')) {
        if (typeof v !== 'function') throw new TypeError(`${k} must be a function`);
        el.addEventListener(k.slice(2), v);
      } else if (k === 'style' || k === 'srcdoc') {
        throw new TypeError(`${k} is not set from script here`);
      } else el.setAttribute(k, v === true ? '' : String(v));
    }
    return el;
  }

  /* h('td', {class: 'num'}, 'text', node...): an element; strings become text nodes. */
  const h = (tag, props, ...kids) => append(setProps(document.createElement(tag), props), kids);
  const SVG = 'http://www.w3.org/2000/svg';
  const s = (tag, props, ...kids) => append(setProps(document.createElementNS(SVG, tag), props), kids);

  const clear = (el) => { el.replaceChildren(); return el; };
  const two = (n) => String(n).padStart(2, '0');
  const dash = '—';
  const str = (v) => (v === null || v === undefined || v === '' ? dash : String(v));
  const enc = encodeURIComponent;
  const words = (table, key) => (Object.hasOwn(table, key) ? table[key] : str(key));

  const timeFmt = new Intl.DateTimeFormat('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
  const shortFmt = new Intl.DateTimeFormat('en-GB', {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  });
  const clockFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

  /* A <time> showing local time, with the exact instant as written by fcrd on hover; `short`
   * leaves out the year, for deadlines that are days away at most. */
  function when(iso, short) {
    if (!iso) return dash;
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return h('time', { datetime: iso, title: iso }, (short ? shortFmt : timeFmt).format(d));
  }

  /* A victim named (by C&C reference) in several incidents lately: the rule set's repeat_victim. */
  function repeatTag() {
    return h('span', { class: 'tag', 'data-repeat-victim': '', title: 'This victim is named in several recent incidents' },
      'Repeat victim');
  }

  function tags(list) {
    if (!Array.isArray(list) || list.length === 0) return dash;
    return list.map((f) => h('span', { class: f === 'domestic_abuse' ? 'tag da' : 'tag' }, words(FLAGS, f)));
  }

  const rules = (list) => (Array.isArray(list) && list.length
    ? list.map((r) => h('code', { class: 'tag' }, r)) : dash);

  const pretty = (v) => h('pre', {}, JSON.stringify(v, null, 2));

  function table(caption, heads, rows, empty) {
    if (!rows.length) return h('p', { class: 'muted' }, empty);
    return h('div', { class: 'scroll' }, h('table', { class: 'grid' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
  }

  /* ---- state ------------------------------------------------------------------------------ */

  const app = {
    view: null,
    clockOffset: 0,      // server time minus this browser's, from the Date header
    queueTimer: null,
    tickTimer: null,
    queueSeq: 0,         // answers to older queue loads are dropped
    queueCount: null,    // last announced counts, to announce only changes
    incident: null,      // the incident shown, with its view
    incidentSeq: 0,
    opener: null,        // how to find the control a dialog was opened from
    announceTimer: null,
    audit: null,         // the audit shown: {id, data, index (item reviewed), seq}
    stream: null,        // the AbortController of the live stream being read, or null
    live: false,         // the stream is open: the queue is refreshed when told, not polled
    streamTries: 0,      // failed attempts since the stream last worked (the backoff's step)
    streamRetry: null,   // the timer of the next attempt
    soon: {},            // coalescing timers of refreshes asked for by events
  };

  const token = () => sessionStorage.getItem(TOKEN_KEY);
  // The purpose given at sign-in goes with every request (purpose=, which fcrd's access log
  // keeps); a query parameter rather than a header, which could not carry every character.
  const PURPOSE_KEY = 'fcrd.purpose';
  const withPurpose = (path, p) => (p ? `${path}${path.includes('?') ? '&' : '?'}purpose=${enc(p)}` : path);

  /* A message in the status line, read out by screen readers; it goes again after a while so
   * that an old message is never taken for news. */
  function announce(text) {
    const st = $('status');
    st.textContent = '';
    clearTimeout(app.announceTimer);
    if (!text) return;
    // Set after a moment, so that the same text twice is read out twice.
    app.announceTimer = setTimeout(() => {
      st.textContent = text;
      app.announceTimer = setTimeout(() => { st.textContent = ''; }, STATUS_MS);
    }, 50);
  }

  /* ---- the API ---------------------------------------------------------------------------- */

  /* fetch with the token; always resolves to {ok, status, data} or {ok: false, status, error}. */
  async function api(method, path, body, opts = {}) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_MS);
    const headers = { Accept: 'application/json' };
    const tok = opts.token || token();
    if (tok) headers.Authorization = `Bearer ${tok}`;
    const init = {
      method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', signal: ctl.signal,
    };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(withPurpose(path, opts.token ? opts.purpose : sessionStorage.getItem(PURPOSE_KEY)), init);
    } catch (e) {
      clearTimeout(timer);
      const message = ctl.signal.aborted ? 'no answer in time' : 'no connection';
      return { ok: false, status: 0, error: { code: 'network', message } };
    }
    clearTimeout(timer);
    const date = Date.parse(resp.headers.get('Date') || '');
    if (!Number.isNaN(date)) {
      // The header has whole seconds: small differences are noise, large ones a wrong clock.
      const off = date - Date.now();
      app.clockOffset = Math.abs(off) > 5000 ? off : 0;
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (resp.ok) return { ok: true, status: resp.status, data };
    const error = (data && typeof data.error === 'object' && data.error) ||
      { code: `http_${resp.status}`, message: resp.statusText };
    if (resp.status === 401 && !opts.token) signOut('Your token is no longer accepted. Sign in again.');
    return { ok: false, status: resp.status, error };
  }

  /* Every page of a list endpoint, up to LIST_CAP items. */
  async function apiList(path, params) {
    const q = new URLSearchParams(params || {});
    q.set('limit', '200');
    const items = [];
    for (;;) {
      const r = await api('GET', `${path}?${q}`);
      if (!r.ok) return r;
      items.push(...(r.data.items || []));
      if (!r.data.next || items.length >= LIST_CAP) return { ok: true, items, more: !!r.data.next };
      q.set('after', r.data.next);
    }
  }

  /* A refusal as the person should read it: what it means, then exactly what the API said. */
  function refusal(r, extra) {
    const e = r.error || {};
    const failed = r.status === 0 || r.status >= 500; // fcrd's own condition, not a refusal
    const known = Object.hasOwn(REFUSALS, e.code) ? REFUSALS[e.code] : null;
    const head = (r.status === 403 && extra && extra.forbidden) || known ||
      (failed ? 'fcrd could not do this just now.' : 'The request was not accepted.');
    const said = [`The API answered ${r.status || 'nothing'}`, e.code ? ` (${e.code})` : '',
      e.message ? `: ${e.message}` : '', e.field ? ` [field: ${e.field}]` : '', '.'].join('');
    return [h('span', {}, `${failed ? 'Not done' : 'Refused'}. ${head}`), ' ', h('span', { class: 'detail' }, said)];
  }

  /* ---- views ------------------------------------------------------------------------------ */

  const VIEWS = ['signin', 'queue', 'incident', 'report', 'audits'];

  function show(view, title) {
    if (app.view !== view) stopQueue();
    app.view = view;
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
    $('nav').hidden = view === 'signin';
    for (const a of document.querySelectorAll('#nav a[data-view]')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${title} · fcrd`;
  }

  function focusHeading(view) {
    const hd = document.querySelector(`#view-${view} h1`);
    if (!hd) return;
    hd.setAttribute('tabindex', '-1');
    hd.focus();
  }

  function route() {
    if (!token()) {
      show('signin', 'Sign in');
      $('token').focus();
      return;
    }
    const hash = location.hash || '#/queue';
    if (hash.startsWith('#/incident/')) {
      let id;
      try { id = decodeURIComponent(hash.slice('#/incident/'.length)); } catch (e) { id = ''; }
      openIncident(id);
    } else if (hash === '#/report') {
      openReport();
    } else if (hash === '#/audits') {
      openAudits();
    } else if (/^#\/audits\/[0-9]{1,18}$/.test(hash)) {
      openAudit(hash.slice('#/audits/'.length));
    } else {
      openQueue();
    }
  }

  /* ---- sign in / out ---------------------------------------------------------------------- */

  async function signIn(ev) {
    ev.preventDefault();
    const field = $('token');
    const err = $('signin-error');
    const tok = field.value.trim();
    const purpose = $('purpose').value.trim();
    err.textContent = '';
    if (tok.length < 16) {
      err.textContent = 'A token has at least 16 characters.';
      field.focus();
      return;
    }
    const btn = ev.submitter || document.querySelector('#signin button');
    btn.disabled = true;
    // Any reading role may see the queue: that is the test of a token.
    const r = await api('GET', '/v1/pending?limit=1', undefined, { token: tok, purpose });
    btn.disabled = false;
    if (!r.ok) {
      err.textContent = r.status === 401 ? 'This token is not accepted.'
        : r.status === 403 ? 'This token may not read decisions (an operations token reads metrics only).'
          : r.error && r.error.code === 'purpose_required' ? 'This fcrd asks for a purpose: say why you look.'
          : `Cannot check the token: ${(r.error && r.error.message) || 'no answer'}.`;
      field.select();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, tok);
    if (purpose) sessionStorage.setItem(PURPOSE_KEY, purpose);
    else sessionStorage.removeItem(PURPOSE_KEY);
    field.value = '';
    $('purpose').value = '';
    announce('Signed in.');
    startStream();
    route();
    focusHeading(app.view);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(PURPOSE_KEY);
    stopQueue();
    stopStream();
    for (const d of document.querySelectorAll('dialog[open]')) d.close();
    // Leave nothing readable behind on the page.
    clear($('queue-table').tBodies[0]);
    clear($('incident-body'));
    clear($('report-body'));
    for (const id of ['audits-list', 'audit-results', 'audit-items', 'audit-incident']) clear($(id));
    app.audit = null;
    for (const id of ['queue-summary', 'queue-updated', 'incident-meta', 'queue-error', 'incident-error',
      'report-error', 'audits-error', 'audit-meta', 'verdict-about', 'verdict-error', 'decide-about',
      'cancel-about', 'reclassify-about']) {
      $(id).textContent = '';
    }
    for (const f of document.querySelectorAll('dialog form, #verdict-form')) f.reset();
    $('a-seed').value = '';
    clear($('d-persons'));
    app.incident = null;
    app.queueCount = null;
    show('signin', 'Sign in');
    $('signin-error').textContent = message || '';
    announce(message ? '' : 'Signed out.');
    $('token').focus();
  }

  /* ---- live updates ---------------------------------------------------------------------- */

  /* GET /v1/stream names what changed (ids only); the page fetches it again through the usual
   * routes. While the stream is open the queue is not polled; when it drops, or cannot be
   * opened, the page polls as before and tries the stream again after a growing pause. A
   * stream silent for three heartbeats is taken for dead (a proxy may hold a dead one open). */
  function setLive(on) {
    app.live = on;
    const el = $('live');
    el.dataset.mode = on ? 'live' : 'polling';
    el.textContent = on ? 'Live' : 'Polling';
    el.title = on ? 'Live: the page updates as changes are made'
      : 'Polling: the page reloads itself every few seconds';
  }

  /* Many events in a moment make one reload. */
  function soon(key, fn) {
    clearTimeout(app.soon[key]);
    app.soon[key] = setTimeout(fn, 150);
  }

  function streamEvent(name, data) {
    if (name === 'pending') {
      if (app.view === 'queue') soon('queue', loadQueue);
    } else if (name === 'incident') {
      if (app.view === 'incident' && app.incident && data && app.incident.id === data.incident_id) {
        soon('incident', () => { if (app.view === 'incident' && app.incident) loadIncident(app.incident.id); });
      }
    }
  }

  /* One block of the stream: "event: NAME" and "data: JSON" lines; comments start with ':'. */
  function streamBlock(block, beat) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (!data.length) return;
    let value = null;
    try { value = JSON.parse(data.join('\n')); } catch (e) { return; }
    if (name === 'hello') {
      if (value && Number.isInteger(value.heartbeat_s) && value.heartbeat_s > 0) beat(value.heartbeat_s * 1000);
      app.streamTries = 0;
      const was = app.live;
      setLive(true);
      // Whatever changed while the page polled or waited is fetched once now.
      if (!was && app.view === 'queue') soon('queue', loadQueue);
    } else {
      streamEvent(name, value);
    }
  }

  async function startStream() {
    if (app.stream || !token()) return;
    clearTimeout(app.streamRetry);
    const ctl = new AbortController();
    app.stream = ctl;
    let silence = null;
    let beatMs = 15000;
    const arm = () => { clearTimeout(silence); silence = setTimeout(() => ctl.abort(), beatMs * 3); };
    try {
      const resp = await fetch('/v1/stream', {
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` },
        cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', signal: ctl.signal,
      });
      if (resp.status === 401) {
        if (app.stream === ctl) app.stream = null;
        signOut('Your token is no longer accepted. Sign in again.');
        return;
      }
      if (resp.ok && resp.body) {
        arm();
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arm();
          buf += value.replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            streamBlock(buf.slice(0, i), (ms) => { beatMs = ms; arm(); });
            buf = buf.slice(i + 2);
          }
        }
      }
    } catch (e) {
      // Dropped, refused or silent: polled below.
    }
    clearTimeout(silence);
    if (app.stream !== ctl) return; // stopped on purpose (sign-out)
    app.stream = null;
    streamDropped();
  }

  function streamDropped() {
    setLive(false);
    if (!token()) return;
    if (app.view === 'queue') loadQueue(); // catch up at once, then poll
    const step = STREAM_RETRY_MS[Math.min(app.streamTries, STREAM_RETRY_MS.length - 1)];
    app.streamTries++;
    // A little spread, so that pages cut off together do not all come back in the same instant.
    app.streamRetry = setTimeout(startStream, step + Math.floor(Math.random() * step / 4));
  }

  function stopStream() {
    clearTimeout(app.streamRetry);
    const ctl = app.stream;
    app.stream = null;
    if (ctl) ctl.abort();
    app.streamTries = 0;
    setLive(false);
  }

  /* ---- countdowns ------------------------------------------------------------------------- */

  function span(ms) {
    const t = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(t / 86400), hr = Math.floor((t % 86400) / 3600), mi = Math.floor((t % 3600) / 60), se = t % 60;
    if (d > 0) return `${d} d ${hr} h ${two(mi)} min`;
    if (hr > 0) return `${hr} h ${two(mi)} min`;
    return `${mi} min ${two(se)} s`;
  }

  /* Refresh every countdown on the page. A row is overdue when fcrd said so or the deadline has
   * passed since; the words say it as well as the colour. */
  function tick() {
    const now = Date.now() + app.clockOffset;
    for (const el of document.querySelectorAll('.left[data-due]')) {
      const due = Date.parse(el.dataset.due);
      if (Number.isNaN(due)) continue;
      const ms = due - now;
      const late = el.dataset.overdue === 'true' || ms <= 0;
      const row = el.closest('tr');
      el.textContent = late ? `Overdue by ${span(Math.min(ms, 0))}` : `${span(ms)} left`;
      if (row) {
        row.classList.toggle('overdue', late);
        row.classList.toggle('soon', !late && ms < SOON_MS);
      }
    }
  }

  const countdown = (item) => h('span', {
    class: 'left', 'data-due': item.due, 'data-overdue': item.overdue ? 'true' : 'false',
  });

  /* ---- the queue -------------------------------------------------------------------------- */

  /* A select of a vocabulary, in the table's order, after an empty choice. */
  function fillSelect(sel, first, table) {
    clear(sel);
    sel.append(h('option', { value: '' }, first));
    for (const k of Object.keys(table)) sel.append(h('option', { value: k }, table[k]));
  }

  function stopQueue() {
    clearInterval(app.queueTimer);
    app.queueTimer = null;
  }

  function openQueue() {
    show('queue', 'Pending decisions');
    stopQueue();
    app.queueTimer = setInterval(() => { if (!document.hidden && !app.live) loadQueue(); }, REFRESH_MS);
    loadQueue();
  }

  async function loadQueue() {
    const seq = ++app.queueSeq;
    const params = {};
    if ($('f-flag').value) params.flag = $('f-flag').value;
    if ($('f-reason').value) params.reason = $('f-reason').value;
    if ($('f-overdue').checked) params.overdue = 'true';
    const r = await apiList('/v1/pending', params);
    if (seq !== app.queueSeq || app.view !== 'queue') return;
    const err = $('queue-error');
    if (!r.ok) {
      clear(err);
      append(err, refusal(r));
      return;
    }
    err.textContent = '';
    renderQueue(r.items, r.more, params);
  }

  function renderQueue(items, more, params) {
    // Rebuilding the rows must not take the keyboard focus away from the person.
    const active = document.activeElement;
    const keep = active && active.dataset && active.dataset.focus;
    const body = clear($('queue-table').tBodies[0]);
    for (const it of items) {
      body.append(h('tr', { 'data-pending': it.id },
        h('td', {}, countdown(it)),
        h('td', {}, when(it.due, true)),
        h('td', {}, h('code', {}, it.id)),
        h('td', {}, h('a', { href: `#/incident/${enc(it.incident_id)}`, 'data-focus': `link ${it.id}` },
          it.incident_id)),
        h('td', { class: 'reason' }, words(REASONS, it.reason)),
        h('td', {}, tags(it.flags), it.repeat_victim ? [' ', repeatTag()] : null),
        h('td', {}, [it.allegation, it.candidate_offence ? `offence ${it.candidate_offence}` : null,
          it.victim ? `victim ${it.victim}` : null].filter(Boolean).join(' · ') || dash),
        h('td', {}, h('button', {
          type: 'button', class: 'small', 'data-decide': it.id, 'data-focus': `decide ${it.id}`,
          'aria-label': `Decide ${it.id} on incident ${it.incident_id}`,
          onclick: () => openDecide(it),
        }, 'Decide'))));
    }
    if (!items.length) {
      body.append(h('tr', {}, h('td', { colspan: '8', class: 'muted' }, Object.keys(params).length
        ? 'No open decisions match these filters.' : 'No open decisions. The queue is clear.')));
    }
    tick();
    if (keep) {
      const again = body.querySelector(`[data-focus="${CSS.escape(keep)}"]`);
      if (again) again.focus();
    }
    const late = body.querySelectorAll('tr.overdue').length;
    const filters = [];
    if (params.flag) filters.push(`flag: ${words(FLAGS, params.flag)}`);
    if (params.reason) filters.push(`reason: ${words(REASONS, params.reason)}`);
    if (params.overdue) filters.push('overdue only');
    const sum = clear($('queue-summary'));
    append(sum, [h('strong', {}, `${items.length}${more ? '+' : ''} open`), ' · ',
      late ? h('span', { class: 'tag late' }, `${late} overdue`) : '0 overdue',
      filters.length ? ` · filtered by ${filters.join(', ')}` : '']);
    $('queue-updated').textContent = `Updated ${clockFmt.format(new Date())}; ` +
      `refreshes every ${REFRESH_MS / 1000} seconds.${more ? ` Showing the first ${items.length}.` : ''}`;
    const count = `${items.length}/${late}`;
    if (app.queueCount !== null && app.queueCount !== count) {
      announce(`Queue updated: ${items.length} open, ${late} overdue.`);
    }
    app.queueCount = count;
  }

  /* ---- dialogs ---------------------------------------------------------------------------- */

  function openDialog(dlg, opener) {
    app.opener = opener;
    for (const e of dlg.querySelectorAll('.error')) e.textContent = '';
    dlg.showModal();
  }

  /* Focus goes back where it came from, or to the heading when that control is gone. */
  function restoreFocus() {
    const o = app.opener;
    app.opener = null;
    const el = o && document.querySelector(o);
    if (el && !el.closest('[hidden]')) el.focus();
    else focusHeading(app.view);
  }

  function showFields(form, value) {
    for (const f of form.querySelectorAll('.field[data-for]')) {
      f.hidden = !f.dataset.for.split(' ').includes(value);
    }
  }

  const val = (id) => $(id).value.trim();

  async function submitDialog(dlg, errId, method, path, body, extra, done) {
    const err = $(errId);
    const btn = dlg.querySelector('button[type="submit"]');
    err.textContent = '';
    btn.disabled = true;
    const r = await api(method, path, body);
    btn.disabled = false;
    if (!r.ok) {
      if (r.status === 401) return;
      append(err, refusal(r, extra));
      return;
    }
    dlg.close();
    done(r.data);
  }

  /* Deciding a pending item (supervisor and above). */
  function openDecide(item) {
    const form = $('decide-form');
    form.reset();
    $('decide-title').textContent = `Decide ${item.id}`;
    $('decide-about').textContent = [`Incident ${item.incident_id}`, words(REASONS, item.reason),
      item.allegation ? `allegation ${item.allegation}` : '',
      `due ${item.due ? timeFmt.format(new Date(item.due)) : dash}`].filter(Boolean).join(' · ');
    $('d-offence').value = item.candidate_offence || '';
    $('d-victim').value = item.victim || '';
    fillSelect($('d-reason'), 'As the item says', REASONS);
    if (Object.hasOwn(REASONS, item.reason)) $('d-reason').value = item.reason;
    showFields(form, 'record');
    form.dataset.id = item.id;
    form.dataset.incident = item.incident_id;
    // The incident's persons, offered as victims (best effort: the form works without them).
    clear($('d-persons'));
    api('GET', `/v1/incidents/${enc(item.incident_id)}`).then((r) => {
      if (!r.ok || form.dataset.id !== item.id) return;
      for (const p of r.data.persons || []) {
        $('d-persons').append(h('option', { value: p.id }, [p.role, p.name].filter(Boolean).join(', ')));
      }
    });
    openDialog($('dlg-decide'), `button[data-decide="${CSS.escape(item.id)}"]`);
  }

  function decideSubmit(ev) {
    ev.preventDefault();
    const form = $('decide-form');
    const decision = form.querySelector('input[name="decision"]:checked').value;
    const rationale = val('d-rationale');
    if (!rationale) {
      $('decide-error').textContent = 'Give the rationale for the decision.';
      $('d-rationale').focus();
      return;
    }
    const body = { decision, rationale };
    if (decision === 'record') {
      if (val('d-offence')) body.offence = val('d-offence');
      if (val('d-victim')) body.victim = val('d-victim');
    } else {
      if (val('d-reason')) body.reason_code = val('d-reason');
      if (decision === 'transfer' && val('d-force')) body.to_force = val('d-force');
    }
    const id = form.dataset.id;
    submitDialog($('dlg-decide'), 'decide-error', 'POST', `/v1/pending/${enc(id)}/decision`, body,
      { forbidden: 'Your role may not decide pending items: a supervisor, DDM or the FCR can.' },
      (data) => {
        const crns = (data.crimes || []).map((c) => c.crn).filter(Boolean);
        const crimes = crns.length ? `, crime ${crns.join(', ')} recorded` : '';
        announce(`${id} closed: ${decision.replace('_', ' ')}${crimes}.`);
        refreshView();
      });
  }

  /* Cancelling or reclassifying a crime (DDM, or the FCR for serious sexual offences). */
  function openCancel(crime) {
    const form = $('cancel-form');
    form.reset();
    form.dataset.crn = crime.crn;
    $('cancel-title').textContent = `Cancel crime ${crime.crn}`;
    $('cancel-about').textContent = `Offence ${crime.offence}, victim ${str(crime.victim)}.`;
    showFields(form, $('c-reason').value);
    openDialog($('dlg-cancel'), `button[data-cancel="${CSS.escape(crime.crn)}"]`);
  }

  function cancelSubmit(ev) {
    ev.preventDefault();
    const crn = $('cancel-form').dataset.crn;
    const reason = $('c-reason').value;
    const rationale = val('c-rationale');
    if (!rationale) {
      $('cancel-error').textContent = 'Give the rationale for cancelling.';
      $('c-rationale').focus();
      return;
    }
    const body = { reason, rationale };
    if (reason === 'C2' && val('c-avi')) body.avi = val('c-avi');
    if (reason === 'C1' && val('c-force')) body.to_force = val('c-force');
    if (reason === 'C3' && val('c-dup')) body.duplicate_of = val('c-dup');
    if ($('c-informed').value) {
      const d = new Date($('c-informed').value);
      if (!Number.isNaN(d.getTime())) body.victim_informed_at = d.toISOString();
    }
    submitDialog($('dlg-cancel'), 'cancel-error', 'POST', `/v1/crimes/${enc(crn)}/cancel`, body,
      {
        forbidden: 'Your role may not cancel this crime: a DDM can cancel most crimes; ' +
          'rape and other serious sexual offences need the FCR.',
      },
      (data) => {
        announce(`Crime ${crn} ${data && data.status === 'transferred' ? 'transferred' : 'cancelled'}.`);
        refreshView();
      });
  }

  function openReclassify(crime) {
    const form = $('reclassify-form');
    form.reset();
    form.dataset.crn = crime.crn;
    $('reclassify-title').textContent = `Reclassify crime ${crime.crn}`;
    $('reclassify-about').textContent = `Now offence ${crime.offence}, victim ${str(crime.victim)}.`;
    openDialog($('dlg-reclassify'), `button[data-reclassify="${CSS.escape(crime.crn)}"]`);
  }

  function reclassifySubmit(ev) {
    ev.preventDefault();
    const crn = $('reclassify-form').dataset.crn;
    const offence = val('r-offence');
    const rationale = val('r-rationale');
    if (!offence || !rationale) {
      $('reclassify-error').textContent = offence ? 'Give the rationale for the change.' : 'Give the new offence code.';
      $(offence ? 'r-rationale' : 'r-offence').focus();
      return;
    }
    submitDialog($('dlg-reclassify'), 'reclassify-error', 'POST', `/v1/crimes/${enc(crn)}/reclassify`,
      { offence, rationale },
      {
        forbidden: 'Your role may not make this reclassification: a DDM can move most crimes; a lower ' +
          'offence for rape and other serious sexual offences needs the FCR.',
      },
      (data) => {
        announce(`Crime ${crn} reclassified as ${(data && data.offence) || offence}.`);
        refreshView();
      });
  }

  /* After a person's action: reload what is shown, without a queue message drowning theirs. */
  function refreshView() {
    app.queueCount = null;
    if (app.view === 'queue') loadQueue();
    else if (app.view === 'incident' && app.incident) loadIncident(app.incident.id);
  }

  /* ---- one incident ----------------------------------------------------------------------- */

  function openIncident(id) {
    show('incident', `Incident ${id}`);
    $('incident-title').textContent = `Incident ${id}`;
    if (!app.incident || app.incident.id !== id) {
      clear($('incident-body'));
      $('incident-meta').textContent = '';
    }
    app.incident = { id };
    loadIncident(id);
  }

  async function loadIncident(id) {
    const seq = ++app.incidentSeq;
    const err = $('incident-error');
    const [inc, events, audit, access] = await Promise.all([
      api('GET', `/v1/incidents/${enc(id)}`),
      apiList(`/v1/incidents/${enc(id)}/events`),
      apiList('/v1/audit', { incident_id: id }),
      apiList('/v1/access-log', { incident_id: id }),
    ]);
    if (seq !== app.incidentSeq || app.view !== 'incident') return;
    clear(err);
    if (!inc.ok) {
      clear($('incident-body'));
      $('incident-meta').textContent = '';
      append(err, inc.status === 404 ? `fcrd knows no incident ${id}.` : refusal(inc));
      return;
    }
    const v = inc.data;
    app.incident = { id, view: v };
    const meta = clear($('incident-meta'));
    append(meta, [`Category ${str(v.category)} · first contact `, when(v.opened_at),
      v.closed_at ? [' · closed ', when(v.closed_at)] : ' · open',
      v.repeat_victim ? [' · ', repeatTag()] : null]);
    const body = clear($('incident-body'));
    body.append(
      pendingSection(v), crimesSection(v), allegationsSection(v), personsSection(v),
      eventsSection(events), auditSection(audit), accessSection(access));
    tick();
  }

  function section(title, ...kids) {
    const id = `s-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
    return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), kids);
  }

  function pendingSection(v) {
    const rows = (v.pending || []).map((p) => {
      const item = Object.assign({ incident_id: v.incident_id }, p);
      return h('tr', { 'data-pending': p.id },
        h('td', {}, h('code', {}, p.id)),
        h('td', {}, words(REASONS, p.reason)),
        h('td', {}, countdown(item), ' ', h('span', { class: 'muted' }, '(due ', when(p.due), ')')),
        h('td', {}, str(p.allegation)),
        h('td', {}, str(p.candidate_offence),
          p.crn ? h('span', { class: 'muted' }, ` for ${p.crn}`) : '',
          p.role ? h('span', { class: 'muted' }, ` (${p.role.toUpperCase()} decides)`) : ''),
        h('td', {}, str(p.victim)),
        h('td', {}, tags(p.flags)),
        h('td', {}, rules(p.rules)),
        h('td', {}, h('button', { type: 'button', class: 'small', 'data-decide': p.id, 'aria-label': `Decide ${p.id}`,
          onclick: () => openDecide(item) }, 'Decide')));
    });
    return section('Open decisions', table('Open pending decisions of this incident',
      ['Item', 'Reason', 'Time left', 'Allegation', 'Candidate offence', 'Victim', 'Flags', 'Rules',
        h('span', { class: 'sr-only' }, 'Action')],
      rows, 'No decision is open on this incident.'));
  }

  function crimesSection(v) {
    const rows = (v.crimes || []).map((c) => {
      const live = c.status === 'recorded';
      return h('tr', { 'data-crn': c.crn },
        h('td', {}, h('code', {}, c.crn)),
        h('td', {}, c.offence),
        h('td', {}, str(c.victim)),
        h('td', {}, h('span', { class: `tag ${live ? 'live' : 'gone'}` }, c.status)),
        h('td', {}, tags(c.flags)),
        h('td', {}, when(c.recorded_at)),
        h('td', {}, rules(c.rules)),
        h('td', {}, live ? h('span', { class: 'actions' },
          h('button', {
            type: 'button', class: 'small quiet', 'data-reclassify': c.crn, 'aria-label': `Reclassify ${c.crn}`,
            onclick: () => openReclassify(c),
          }, 'Reclassify'),
          h('button', { type: 'button', class: 'small quiet', 'data-cancel': c.crn, 'aria-label': `Cancel ${c.crn}`,
            onclick: () => openCancel(c) }, 'Cancel')) : dash));
    });
    return section('Crimes', table('Crimes of this incident, whatever their status',
      ['Crime reference', 'Offence', 'Victim', 'Status', 'Flags', 'Recorded', 'Rules',
        h('span', { class: 'sr-only' }, 'Actions')],
      rows, 'No crime has been recorded on this incident.'));
  }

  function allegationWhere(loc) {
    if (!loc || typeof loc !== 'object') return dash;
    return [loc.force_area === 'own' ? 'own force area' : loc.force_area, loc.other_force, loc.premises]
      .filter(Boolean).join(', ') || dash;
  }

  /* Who took a decision by hand, when, and why. */
  function decidedBy(by) {
    if (typeof by !== 'object' || by === null) return h('span', { class: 'muted' }, `decided by ${by}`);
    return h('span', { class: 'muted' }, `decided by ${str(by.user)}${by.role ? ` (${by.role})` : ''}`,
      by.at ? [', ', when(by.at)] : '', by.rationale ? `: “${by.rationale}”` : '');
  }

  function allegationsSection(v) {
    const decisions = {};
    for (const d of v.decisions || []) decisions[d.allegation] = d;
    const rows = (v.allegations || []).map((a) => {
      const d = decisions[a.id];
      const notes = ['withdrawn', 'retracted', 'evidence_against', 'points_proved', 'police_action_requested']
        .filter((k) => a[k] === true).map((k) => k.replace(/_/g, ' '));
      if (a.occasions > 1) notes.push(`${a.occasions} occasions`);
      if (a.in_course_of) notes.push(`in the course of ${a.in_course_of}`);
      if (a.note) notes.push(a.note);
      return h('tr', { 'data-allegation': a.id },
        h('td', {}, h('code', {}, a.id)),
        h('td', {}, a.offence ? ['offence ', h('code', {}, a.offence)]
          : a.conduct ? ['conduct ', h('code', {}, a.conduct)] : dash),
        h('td', {}, str(a.victim)),
        h('td', {}, Array.isArray(a.suspects) && a.suspects.length ? a.suspects.join(', ') : dash),
        h('td', {}, when(a.occurred_at)),
        h('td', {}, allegationWhere(a.location)),
        h('td', {}, notes.length ? notes.join('; ') : dash),
        h('td', {}, d ? [h('strong', {}, words(OUTCOMES, d.outcome)),
          d.offence ? [' ', h('code', {}, d.offence)] : '',
          d.crn ? [' as ', h('code', {}, d.crn)] : '',
          d.reason ? [h('br'), words(REASONS, d.reason)] : '',
          d.code ? [h('br'), 'code ', h('code', {}, d.code)] : '',
          d.by ? [h('br'), decidedBy(d.by)] : '']
          : dash),
        h('td', {}, d ? rules(d.rules) : dash));
    });
    return section('Allegations and decisions', table('Allegations as last received, each with its latest decision',
      ['Allegation', 'What', 'Victim', 'Suspects', 'When', 'Where', 'Notes', 'Decision', 'Rules'],
      rows, 'No allegation has been received.'));
  }

  function personsSection(v) {
    const yes = (b, t, f) => (b === true ? t : b === false ? f : null);
    const rows = (v.persons || []).map((p) => {
      const other = [p.kind === 'organisation' ? 'organisation' : null, yes(p.vulnerable, 'vulnerable', null),
        yes(p.traceable, null, 'cannot be traced'), p.wishes ? p.wishes.replace(/_/g, ' ') : null,
        p.employer ? `works for ${p.employer}` : null, p.ref ? `ref ${p.ref}` : null].filter(Boolean);
      const rel = Array.isArray(p.relationships) ? p.relationships.map((r) => `${r.kind} of ${r.to}`).join(', ') : '';
      return h('tr', { 'data-person': p.id },
        h('td', {}, h('code', {}, p.id)),
        h('td', {}, str(p.role)),
        h('td', {}, str(p.name)),
        h('td', {}, str(p.sex)),
        h('td', { class: 'num' }, str(p.age)),
        h('td', {}, p.role === 'victim' ? (yes(p.confirms, 'confirms', 'does not confirm') || 'not yet asked') : dash),
        h('td', {}, rel || dash),
        h('td', {}, other.length ? other.join('; ') : dash));
    });
    return section('Persons', table('Persons as last received',
      ['Person', 'Role', 'Name', 'Sex', 'Age', 'Confirms', 'Relationships', 'Other'],
      rows, 'No person has been received.'));
  }

  function replySummary(reply) {
    if (!reply || typeof reply !== 'object') return dash;
    const lines = [];
    for (const c of reply.crimes || []) lines.push(`crime ${c.crn} ${c.action} (${c.offence})`);
    for (const d of reply.decisions || []) {
      const why = d.reason ? ` (${words(REASONS, d.reason).toLowerCase()})` : '';
      lines.push(`${d.allegation}: ${words(OUTCOMES, d.outcome).toLowerCase()}${why}`);
    }
    for (const w of reply.warnings || []) lines.push(`warning ${w.code}${w.field ? ` at ${w.field}` : ''}`);
    if (!lines.length) return 'nothing decided';
    return h('ul', { class: 'plain' }, lines.map((l) => h('li', {}, l)));
  }

  const more = (r) => (r.more ? h('p', { class: 'muted' }, `Showing the first ${r.items.length}.`) : '');

  function eventsSection(r) {
    if (!r.ok) return section('Events', h('div', { class: 'error' }, refusal(r)));
    const rows = r.items.map((e) => {
      const ev = e.event || {};
      return h('tr', { 'data-event': e.event_id },
        h('td', { class: 'num' }, String(e.seq)),
        h('td', {}, str(e.type), h('br'), h('code', { class: 'muted' }, e.event_id)),
        h('td', {}, when(e.at), ev.channel ? [h('br'), ev.channel.replace(/_/g, ' ')] : ''),
        h('td', { class: 'narrative' }, ev.narrative ? ev.narrative : h('span', { class: 'muted' }, 'no narrative')),
        h('td', {}, replySummary(e.reply)),
        h('td', {}, h('details', {}, h('summary', {}, 'Event and reply'), pretty(ev), pretty(e.reply))));
    });
    return section('Events', table('Events in the order of their sequence numbers, each with the reply it got',
      ['Seq', 'Type', 'At', 'Narrative', 'Outcome', 'Details'],
      rows, 'No event is stored for this incident.'), more(r));
  }

  function auditSection(r) {
    if (!r.ok) return section('Audit trail', h('div', { class: 'error' }, refusal(r)));
    const rows = r.items.map((a) => h('tr', { 'data-audit': String(a.id) },
      h('td', { class: 'num' }, String(a.id)),
      h('td', {}, when(a.at)),
      h('td', {}, a.actor === 'rules' ? 'rules' : `${a.actor} (${a.role})`),
      h('td', {}, h('code', {}, a.action)),
      h('td', {}, [a.crn, a.pending_id, a.allegation ? `allegation ${a.allegation}` : null]
        .filter(Boolean).join(' · ') || dash),
      h('td', {}, rules(a.rules)),
      h('td', {}, a.before || a.after ? h('details', {}, h('summary', {}, 'Before and after'),
        h('p', {}, 'Before'), pretty(a.before), h('p', {}, 'After'), pretty(a.after)) : dash),
      h('td', {}, h('code', { title: a.hash || '' }, a.hash ? `${a.hash.slice(0, 12)}…` : dash))));
    return section('Audit trail', table('Every change of state on this incident, oldest first',
      ['Entry', 'At', 'By', 'Action', 'Subject', 'Rules', 'Change', 'Hash'],
      rows, 'No audit entry yet.'), more(r));
  }

  /* Who has looked at this incident (the access log): this very view is its latest row. */
  function accessSection(r) {
    if (!r.ok) return section('Access history', h('div', { class: 'error' }, refusal(r)));
    const rows = r.items.map((a) => h('tr', { 'data-access': String(a.id) },
      h('td', {}, when(a.at)),
      h('td', {}, `${str(a.user)} (${str(a.role)})`),
      h('td', {}, h('code', {}, `${str(a.method)} ${str(a.route)}`)),
      h('td', {}, a.purpose ? str(a.purpose) : h('span', { class: 'muted' }, 'no purpose given')),
      h('td', {}, str(a.client))));
    return section('Access history', table('Every look at this incident\'s records, oldest first',
      ['At', 'By', 'What', 'Purpose', 'From'], rows, 'Nobody has looked yet.'), more(r));
  }

  /* ---- the self-audit report -------------------------------------------------------------- */

  const isoDay = (d) => `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
  const pct = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : dash);
  const num = (x) => (typeof x === 'number' ? String(x) : dash);
  const crimeCount = (n) => (typeof n === 'number' ? `${n} crime${n === 1 ? '' : 's'}` : dash);

  function openReport() {
    show('report', 'Self-audit');
    if (!$('r-from').value || !$('r-to').value) {
      const to = new Date();
      const from = new Date(to.getTime() - 29 * 86400000);
      $('r-from').value = isoDay(from);
      $('r-to').value = isoDay(to);
    }
    loadReport();
  }

  async function loadReport(ev) {
    if (ev) ev.preventDefault();
    const err = clear($('report-error'));
    const from = $('r-from').value, to = $('r-to').value;
    if (!from || !to) {
      err.textContent = 'Choose the first and the last day.';
      return;
    }
    // The days are the person's own: from local midnight of the first to that after the last.
    const [fy, fm, fd] = from.split('-').map(Number);
    const [ty, tm, td] = to.split('-').map(Number);
    const q = new URLSearchParams({
      from: new Date(fy, fm - 1, fd).toISOString(), to: new Date(ty, tm - 1, td + 1).toISOString(),
    });
    const r = await api('GET', `/v1/reports/cdi?${q}`);
    if (app.view !== 'report') return;
    const body = clear($('report-body'));
    if (!r.ok) {
      append(err, refusal(r));
      return;
    }
    renderReport(body, r.data);
  }

  function renderReport(body, rep) {
    const strata = Array.isArray(rep.strata) ? rep.strata : [];
    const all = strata.find((x) => x.name === 'all_crime') || {};
    body.append(h('p', { class: 'summary' },
      `${num(rep.incidents_in_period)} incidents first reported from `, when(rep.from), ' up to ', when(rep.to),
      rep.ruleset ? ` · rule set ${rep.ruleset}` : ''));
    body.append(h('dl', { class: 'figures' },
      figure('Recording rate, all crime', pct(all.rate), all.rate !== null && all.rate !== undefined
        ? `95% interval ${pct(all.ci_low)} to ${pct(all.ci_high)}` : 'no crimes in the period'),
      figure('Recorded at first contact', pct(all.first_contact_share),
        `${num(all.first_contact)} of ${crimeCount(all.crimes)}`),
      figure('Recorded within 24 hours', pct(all.within_24h_share),
        `${num(all.within_24h)} of ${crimeCount(all.crimes)}`),
      figure('Decisions overdue', num(all.overdue_pending), `${num(all.open_pending)} open in all`)));
    body.append(chart(strata));
    const rows = strata.map((x) => h('tr', { 'data-stratum': x.name },
      h('th', { scope: 'row' }, words(STRATA, x.name)),
      h('td', { class: 'num' }, num(x.incidents)),
      h('td', { class: 'num' }, num(x.crimes)),
      h('td', { class: 'num' }, pct(x.rate)),
      h('td', { class: 'num' }, typeof x.rate === 'number' ? `${pct(x.ci_low)} to ${pct(x.ci_high)}` : dash),
      h('td', { class: 'num' }, pct(x.first_contact_share)),
      h('td', { class: 'num' }, pct(x.within_24h_share)),
      h('td', { class: 'num' }, num(x.overdue_pending)),
      h('td', { class: 'num' }, num(x.open_pending))));
    body.append(table('Figures by kind of crime',
      ['Kind of crime', 'Incidents', 'Crimes', 'Recording rate', '95% interval', 'At first contact',
        'Within 24 h', 'Overdue', 'Open'], rows, 'The report holds no figures.'));
    const canc = Array.isArray(rep.cancellations) ? rep.cancellations : [];
    body.append(h('h2', {}, 'Cancellations'),
      table('Crimes cancelled in the period, by reason and by the role that decided', ['Reason', 'Role', 'Count'],
        canc.map((c) => h('tr', {}, h('td', {}, str(c.reason)), h('td', {}, str(c.role)),
          h('td', { class: 'num' }, num(c.count)))), 'No crime was cancelled.'));
    const hc = rep.hidden_crime_reviews;
    if (hc && typeof hc === 'object') {
      body.append(h('h2', {}, 'Reviews for possible hidden crime'), h('p', {},
        `${num(hc.opened)} opened: ${num(hc.open)} still open, ${num(hc.recorded)} recorded, ` +
        `${num(hc.no_crime)} no crime, ${num(hc.transferred)} transferred, ` +
        `${num(hc.closed_by_rules)} settled by later events.`));
    }
  }

  const figure = (label, value, note) => h('div', { class: 'figure' }, h('dt', {}, label),
    h('dd', {}, h('strong', {}, value), h('br'), h('span', { class: 'muted' }, note)));

  /* Recording rate per kind of crime, with its 95% interval as a whisker. The table below holds
   * the same numbers for anyone who cannot see the chart. */
  function chart(strata) {
    const rowH = 34, left = 230, width = 380, top = 12, n = Math.max(strata.length, 1);
    const height = top + n * rowH + 30;
    const x = (v) => left + Math.max(0, Math.min(1, v)) * width;
    const desc = strata.map((st) => `${words(STRATA, st.name)}: ${typeof st.rate === 'number'
      ? `${pct(st.rate)} (${pct(st.ci_low)} to ${pct(st.ci_high)})` : 'no crimes'}`).join('; ');
    const svg = s('svg', {
      viewBox: `0 0 ${left + width + 30} ${height}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc',
    },
      s('title', { id: 'chart-title' }, 'Recording rate by kind of crime, with 95% intervals'),
      s('desc', { id: 'chart-desc' }, desc || 'No figures.'));
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      svg.append(s('line', { class: 'grid-line', x1: x(t), x2: x(t), y1: top - 4, y2: top + n * rowH }),
        s('text', { x: x(t), y: top + n * rowH + 18, 'text-anchor': 'middle' }, `${t * 100}%`));
    }
    strata.forEach((st, i) => {
      const y = top + i * rowH;
      svg.append(s('text', { x: left - 10, y: y + rowH / 2 + 4, 'text-anchor': 'end' }, words(STRATA, st.name)));
      if (typeof st.rate !== 'number') {
        svg.append(s('text', { class: 'empty', x: left + 6, y: y + rowH / 2 + 4 }, 'no crimes'));
        return;
      }
      const g = s('g', {}, s('title', {}, `${words(STRATA, st.name)}: ${pct(st.rate)}`));
      g.append(s('rect', { class: 'bar', x: left, y: y + 7, width: x(st.rate) - left, height: rowH - 14 }));
      if (typeof st.ci_low === 'number' && typeof st.ci_high === 'number') {
        const cy = y + rowH / 2;
        g.append(s('line', { class: 'whisker', x1: x(st.ci_low), x2: x(st.ci_high), y1: cy, y2: cy }),
          s('line', { class: 'whisker', x1: x(st.ci_low), x2: x(st.ci_low), y1: cy - 7, y2: cy + 7 }),
          s('line', { class: 'whisker', x1: x(st.ci_high), x2: x(st.ci_high), y1: cy - 7, y2: cy + 7 }));
      }
      svg.append(g);
    });
    svg.append(s('line', { class: 'axis', x1: left, x2: left, y1: top - 4, y2: top + n * rowH }));
    return h('figure', { class: 'chart' }, svg,
      h('figcaption', { class: 'muted' }, 'Bars: recording rate. Lines across the bars: the 95% interval.'));
  }

  /* ---- independent audits ----------------------------------------------------------------- */

  const VERDICTS = {
    correct: 'Correct', crime_missed: 'Crime missed', wrong_classification: 'Wrong classification',
    wrongly_cancelled: 'Wrongly cancelled', not_a_crime: 'Not a crime',
  };
  const NEEDS_OFFENCE = ['crime_missed', 'wrong_classification'];
  const STRATUM_KEYS = ['category', 'offence_category', 'domestic_abuse', 'vulnerable', 'hate'];

  /* "crime/not_domestic_abuse" -> "crime · not domestic abuse". */
  const stratumWords = (st) => (st === 'all' ? 'All incidents'
    : String(st).split('/').map((p) => p.replace(/_/g, ' ')).join(' · '));
  const interval = (r, lo, hi) => (typeof r === 'number' ? `${pct(lo)} to ${pct(hi)}` : dash);

  function openAudits() {
    show('audits', 'Audit');
    $('audits-title').textContent = 'Audit';
    $('audits-home').hidden = false;
    $('audit-one').hidden = true;
    app.audit = null;
    if (!$('a-from').value || !$('a-to').value) {
      const to = new Date();
      $('a-from').value = isoDay(new Date(to.getTime() - 29 * 86400000));
      $('a-to').value = isoDay(to);
    }
    // A seed is needed to draw the same sample again: offer one, kept with the audit.
    if (!$('a-seed').value) $('a-seed').value = String(100000 + Math.floor(Math.random() * 900000));
    loadAudits();
  }

  async function loadAudits() {
    const r = await apiList('/v1/audits');
    if (app.view !== 'audits' || app.audit) return;
    const err = clear($('audits-error'));
    const list = clear($('audits-list'));
    if (!r.ok) {
      append(err, refusal(r));
      return;
    }
    const rows = r.items.map((a) => h('tr', { 'data-audit-id': String(a.id) },
      h('td', {}, h('a', { href: `#/audits/${a.id}` }, `Audit ${a.id}`)),
      h('td', {}, when(a.created_at), h('br'), h('span', { class: 'muted' }, `${str(a.created_by)} (${str(a.role)})`)),
      h('td', {}, when(a.from), ' up to ', when(a.to)),
      h('td', { class: 'num' }, num(a.size)),
      h('td', {}, h('code', {}, str(a.seed))),
      h('td', {}, Array.isArray(a.strata) && a.strata.length ? a.strata.join(', ').replace(/_/g, ' ') : 'none'),
      h('td', { class: 'num' }, `${num(a.reviewed)} of ${num(a.sampled)}`)));
    list.append(table('Samples drawn, newest first',
      ['Audit', 'Drawn', 'Period', 'Size', 'Seed', 'Strata', 'Reviewed'], rows, 'No audit has been drawn yet.'), more(r));
  }

  async function drawAudit(ev) {
    ev.preventDefault();
    const err = clear($('audits-error'));
    const from = $('a-from').value, to = $('a-to').value, seed = val('a-seed');
    const size = Number($('a-size').value);
    if (!from || !to || !seed || !Number.isInteger(size)) {
      err.textContent = 'Give the first and last day, the number of incidents and a seed.';
      return;
    }
    // Whole local days, as in the self-audit: from midnight of the first to that after the last.
    const [fy, fm, fd] = from.split('-').map(Number);
    const [ty, tm, td] = to.split('-').map(Number);
    const strata = STRATUM_KEYS.filter((k) => $(`a-s-${k}`).checked);
    const btn = $('audit-form').querySelector('button[type="submit"]');
    btn.disabled = true;
    const r = await api('POST', '/v1/audits', {
      from: new Date(fy, fm - 1, fd).toISOString(), to: new Date(ty, tm - 1, td + 1).toISOString(), size, seed, strata,
    });
    btn.disabled = false;
    if (!r.ok) {
      append(err, refusal(r, { forbidden: 'Your role may not draw audits: an auditor or above can.' }));
      return;
    }
    announce(`Audit ${r.data.id} drawn: ${r.data.items.length} incidents.`);
    location.hash = `#/audits/${r.data.id}`;
  }

  function openAudit(id) {
    show('audits', `Audit ${id}`);
    $('audits-title').textContent = `Audit ${id}`;
    $('audits-home').hidden = true;
    $('audit-one').hidden = false;
    if (!app.audit || app.audit.id !== id) {
      for (const el of ['audit-results', 'audit-items', 'audit-incident']) clear($(el));
      $('audit-meta').textContent = '';
      app.audit = { id, data: null, index: -1, seq: 0 };
    }
    loadAudit(null);
  }

  /* Reads the audit again; then shows item `index`, or the first without a verdict. */
  async function loadAudit(index) {
    const a = app.audit;
    const r = await api('GET', `/v1/audits/${enc(a.id)}`);
    if (app.audit !== a || app.view !== 'audits') return;
    const err = clear($('audits-error'));
    if (!r.ok) {
      append(err, r.status === 404 ? `fcrd knows no audit ${a.id}.` : refusal(r));
      return;
    }
    a.data = r.data;
    const items = r.data.items || [];
    const meta = clear($('audit-meta'));
    append(meta, [`Incidents first reported from `, when(r.data.from), ' up to ', when(r.data.to),
      ` · ${items.length} drawn with seed `, h('code', {}, str(r.data.seed)),
      ` · strata: ${(r.data.strata || []).join(', ').replace(/_/g, ' ') || 'none'}`,
      ` · drawn by ${str(r.data.created_by)}`]);
    renderAuditResults(r.data.results || {});
    let i = index;
    if (i === null || i < 0 || i >= items.length) {
      i = items.findIndex((it) => !it.verdict);
      if (i < 0) i = items.length ? 0 : -1;
    }
    showAuditItem(i);
  }

  function renderAuditResults(res) {
    const body = clear($('audit-results'));
    const o = res.overall || {};
    body.append(h('dl', { class: 'figures' },
      figure('Recording rate', pct(o.recording_rate), typeof o.recording_rate === 'number'
        ? `${num(o.recorded)} of ${num(o.should_record)}; 95% interval ${pct(o.recording_ci_low)} to ${pct(o.recording_ci_high)}`
        : 'no crime found that should have been recorded yet'),
      figure('fcrd agreed with the auditor', pct(o.agreement), typeof o.agreement === 'number'
        ? `95% interval ${pct(o.agreement_ci_low)} to ${pct(o.agreement_ci_high)}` : 'nothing reviewed yet'),
      figure('Reviewed', `${num(o.reviewed)} of ${num(o.sampled)}`, 'incidents with a verdict')));
    const rows = (res.strata || []).map((x) => h('tr', { 'data-stratum': x.stratum },
      h('th', { scope: 'row' }, stratumWords(x.stratum)),
      h('td', { class: 'num' }, num(x.sampled)),
      h('td', { class: 'num' }, num(x.reviewed)),
      h('td', { class: 'num' }, num(x.should_record)),
      h('td', { class: 'num' }, num(x.recorded)),
      h('td', { class: 'num' }, pct(x.recording_rate)),
      h('td', { class: 'num' }, interval(x.recording_rate, x.recording_ci_low, x.recording_ci_high)),
      h('td', { class: 'num' }, pct(x.agreement)),
      h('td', { class: 'num' }, interval(x.agreement, x.agreement_ci_low, x.agreement_ci_high))));
    body.append(table('Results by stratum. Recording rate: crimes recorded of those that should have been.',
      ['Stratum', 'Sampled', 'Reviewed', 'Should have been recorded', 'Recorded', 'Recording rate', '95% interval',
        'Agreement', '95% interval'], rows, 'The sample is empty: no incident was first reported in the period.'));
  }

  function renderAuditItems() {
    const a = app.audit;
    const rows = (a.data.items || []).map((it, i) => {
      const v = it.verdict;
      const current = i === a.index;
      return h('tr', { 'data-item': it.incident_id, class: current ? 'current' : null, 'aria-current': current ? 'true' : null },
        h('td', { class: 'num' }, String(i + 1)),
        h('td', {}, h('button', {
          type: 'button', class: 'small quiet', 'data-review': String(i),
          'aria-label': `Review item ${i + 1}, incident ${it.incident_id}`, onclick: () => showAuditItem(i),
        }, current ? 'Reviewing' : 'Review'), ' ', h('code', {}, it.incident_id)),
        h('td', {}, stratumWords(it.stratum)),
        h('td', {}, v ? h('strong', {}, words(VERDICTS, v.verdict)) : h('span', { class: 'muted' }, 'not reviewed')),
        h('td', {}, v && v.offence ? h('code', {}, v.offence) : dash),
        h('td', {}, v ? [`${str(v.by)} (${str(v.role)}), `, when(v.at)] : dash),
        h('td', {}, v && v.note ? v.note : dash));
    });
    const list = clear($('audit-items'));
    list.append(table('The sample, by stratum in the order drawn', ['#', 'Incident', 'Stratum', 'Verdict', 'Offence',
      'Given by', 'Note'], rows, 'No incident was drawn.'));
  }

  /* One item: the incident on the left, the verdict form on the right. */
  async function showAuditItem(i) {
    const a = app.audit;
    const items = (a.data && a.data.items) || [];
    a.index = i;
    renderAuditItems();
    const form = $('verdict-form');
    form.hidden = i < 0;
    const panel = clear($('audit-incident'));
    if (i < 0) return;
    const it = items[i];
    form.reset();
    $('verdict-error').textContent = '';
    const v = it.verdict;
    if (v) {
      $(`v-${v.verdict}`).checked = true;
      $('v-offence').value = v.offence || '';
      $('v-note').value = v.note || '';
    }
    showFields(form, form.querySelector('input[name="verdict"]:checked').value);
    $('verdict-about').textContent = `Item ${i + 1} of ${items.length} · incident ${it.incident_id} · ` +
      `${stratumWords(it.stratum)} · ${v ? `verdict given: ${words(VERDICTS, v.verdict)} (a new one replaces it)`
        : 'not reviewed yet'}`;
    $('verdict-prev').disabled = i === 0;
    $('verdict-next').disabled = i === items.length - 1;
    const seq = ++a.seq;
    const [inc, events] = await Promise.all([
      api('GET', `/v1/incidents/${enc(it.incident_id)}`), apiList(`/v1/incidents/${enc(it.incident_id)}/events`),
    ]);
    if (app.audit !== a || a.seq !== seq) return;
    panel.append(h('h2', { id: 'review-title' }, `Incident ${it.incident_id}`));
    if (!inc.ok) {
      panel.append(h('div', { class: 'error' }, refusal(inc)));
      return;
    }
    const iv = inc.data;
    panel.append(h('p', { class: 'muted' }, `Category ${str(iv.category)} · first contact `, when(iv.opened_at),
      iv.closed_at ? [' · closed ', when(iv.closed_at)] : ' · open'));
    panel.setAttribute('aria-labelledby', 'review-title');
    panel.append(reviewNarrative(events), reviewCrimes(iv), subSection(allegationsSection(iv), 'rv-'),
      subSection(personsSection(iv), 'rv-'));
  }

  /* A section of the incident view, one heading level down and with ids of its own. */
  function subSection(sec, prefix) {
    const old = sec.querySelector('h2');
    const id = `${prefix}${old.id}`;
    old.replaceWith(h('h3', { id }, old.textContent));
    sec.setAttribute('aria-labelledby', id);
    return sec;
  }

  function reviewNarrative(r) {
    const sec = h('section', { 'aria-labelledby': 'rv-what-was-reported' }, h('h3', { id: 'rv-what-was-reported' },
      'What was reported'));
    if (!r.ok) return append(sec, [h('div', { class: 'error' }, refusal(r))]);
    const lines = r.items.map((e) => h('li', {}, h('strong', {}, `${e.seq}. ${str(e.type)}`), ' ', when(e.at), ': ',
      (e.event && e.event.narrative) ? e.event.narrative : h('span', { class: 'muted' }, 'no narrative')));
    return append(sec, [lines.length ? h('ol', { class: 'plain narrative' }, lines)
      : h('p', { class: 'muted' }, 'No event is stored.')]);
  }

  /* The crimes as they stand, without the actions of the incident view: reviewing changes nothing. */
  function reviewCrimes(v) {
    const rows = (v.crimes || []).map((c) => h('tr', {},
      h('td', {}, h('code', {}, c.crn)), h('td', {}, c.offence), h('td', {}, str(c.victim)),
      h('td', {}, h('span', { class: `tag ${c.status === 'recorded' ? 'live' : 'gone'}` }, c.status)),
      h('td', {}, tags(c.flags)), h('td', {}, when(c.recorded_at))));
    return h('section', { 'aria-labelledby': 'rv-crimes' }, h('h3', { id: 'rv-crimes' }, 'What fcrd recorded'),
      table('Crimes of this incident, whatever their status', ['Crime reference', 'Offence', 'Victim', 'Status',
        'Flags', 'Recorded'], rows, 'fcrd recorded no crime on this incident.'));
  }

  async function submitVerdict(ev) {
    ev.preventDefault();
    const a = app.audit;
    if (!a || !a.data || a.index < 0) return;
    const it = a.data.items[a.index];
    const verdict = $('verdict-form').querySelector('input[name="verdict"]:checked').value;
    const err = $('verdict-error');
    err.textContent = '';
    const body = { incident_id: it.incident_id, verdict };
    if (NEEDS_OFFENCE.includes(verdict)) {
      if (!val('v-offence')) {
        err.textContent = 'Give the offence that should have been recorded.';
        $('v-offence').focus();
        return;
      }
      body.offence = val('v-offence');
    }
    if (val('v-note')) body.note = val('v-note');
    const btn = $('verdict-form').querySelector('button[type="submit"]');
    btn.disabled = true;
    const r = await api('POST', `/v1/audits/${enc(a.id)}/verdicts`, body);
    btn.disabled = false;
    if (app.audit !== a) return;
    if (!r.ok) {
      if (r.status !== 401) append(err, refusal(r, { forbidden: 'Your role may not give verdicts: an auditor or above can.' }));
      return;
    }
    const items = a.data.items;
    // On to the next item without a verdict after this one, else the next one, else stay.
    let next = items.findIndex((x, j) => j > a.index && !x.verdict);
    if (next < 0) next = Math.min(a.index + 1, items.length - 1);
    const left = items.filter((x, j) => !x.verdict && j !== a.index).length;
    announce(`Verdict saved for incident ${it.incident_id}: ${words(VERDICTS, verdict).toLowerCase()}. ` +
      (left ? `${left} left to review.` : 'Every item has a verdict.'));
    await loadAudit(next);
    const title = $('verdict-title');
    title.setAttribute('tabindex', '-1');
    title.focus();
  }

  /* ---- wiring ----------------------------------------------------------------------------- */

  function wire() {
    fillSelect($('f-flag'), 'Any flag', FLAGS); // domestic abuse is listed first
    fillSelect($('f-reason'), 'Any reason', REASONS);
    $('signin').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', () => signOut());
    $('find').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const id = $('find-id').value.trim();
      if (id) location.hash = `#/incident/${enc(id)}`;
    });
    $('queue-filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadQueue(); });
    for (const id of ['f-flag', 'f-reason', 'f-overdue']) $(id).addEventListener('change', () => loadQueue());
    $('queue-refresh').addEventListener('click', () => loadQueue());
    $('incident-refresh').addEventListener('click', () => app.incident && loadIncident(app.incident.id));
    $('report-form').addEventListener('submit', loadReport);
    $('audit-form').addEventListener('submit', drawAudit);
    $('verdict-form').addEventListener('submit', submitVerdict);
    $('verdict-form').addEventListener('change', (ev) => {
      if (ev.target.name === 'verdict') showFields($('verdict-form'), ev.target.value);
    });
    $('verdict-prev').addEventListener('click', () => app.audit && showAuditItem(Math.max(app.audit.index - 1, 0)));
    $('verdict-next').addEventListener('click', () => app.audit && app.audit.data &&
      showAuditItem(Math.min(app.audit.index + 1, app.audit.data.items.length - 1)));
    $('decide-form').addEventListener('submit', decideSubmit);
    $('cancel-form').addEventListener('submit', cancelSubmit);
    $('reclassify-form').addEventListener('submit', reclassifySubmit);
    $('decide-form').addEventListener('change', (ev) => {
      if (ev.target.name === 'decision') showFields($('decide-form'), ev.target.value);
    });
    $('c-reason').addEventListener('change', () => showFields($('cancel-form'), $('c-reason').value));
    for (const dlg of document.querySelectorAll('dialog')) {
      dlg.addEventListener('close', restoreFocus);
      for (const b of dlg.querySelectorAll('[data-close]')) b.addEventListener('click', () => dlg.close());
    }
    window.addEventListener('hashchange', () => { route(); focusHeading(app.view); });
    document.addEventListener('visibilitychange', () => { if (!document.hidden && app.view === 'queue') loadQueue(); });
    app.tickTimer = setInterval(tick, 1000);
    // A connection the browser knows is gone may still look open for a while: poll at once.
    window.addEventListener('offline', () => { if (app.stream) app.stream.abort(); });
    startStream();
    route();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', wire);
  else wire();
})();
