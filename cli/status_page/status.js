// sluice's status page: reads the admin API (the same routes and token as the CLI), draws its
// own charts and puts every value into the page as text (never as HTML).
'use strict';

(function () {
  const POLL_MS = 3000;
  const WINDOW_MS = 15 * 60 * 1000;
  const PAGE = 50;

  let token = null; // the admin token: this tab's memory only
  let pollTimer = null;
  let pollFailed = false; // the last poll could not reach sluice (its message is shown)
  let pages = 1; // DLQ pages shown
  let selected = null; // the DLQ entry shown
  const samples = []; // {t, m: {mapping: {recv, deliv, backlog, dlq, inv: {...}}}}
  const cards = new Map();

  const $ = (id) => document.getElementById(id);

  class AuthNeeded extends Error {}

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function message(text, bad) {
    const m = $('message');
    m.textContent = text || '';
    m.hidden = !text;
    m.classList.toggle('bad', !!bad);
  }

  async function api(method, path, body) {
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(path, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status === 401) {
      askToken(token ? 'That token was refused.' : null);
      throw new AuthNeeded();
    }
    const text = await resp.text();
    const type = resp.headers.get('Content-Type') || '';
    const data = type.startsWith('application/json') && text ? JSON.parse(text) : text;
    if (!resp.ok) {
      const why = data && data.message ? data.message : resp.status + ' ' + resp.statusText;
      throw new Error(method + ' ' + path + ': ' + why);
    }
    return data;
  }

  function askToken(why) {
    stopPolling();
    $('main').hidden = true;
    $('auth').hidden = false;
    message(why, true);
    $('token').focus();
  }

  // ---- metrics ----

  // Prometheus text: {name: [{labels, value}]}.
  function parseMetrics(text) {
    const out = {};
    const rx = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
    const lrx = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = rx.exec(line);
      if (!m) continue;
      const labels = {};
      let l;
      lrx.lastIndex = 0;
      while ((l = lrx.exec(m[2] || '')) !== null)
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
      (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[3]) });
    }
    return out;
  }

  function byMapping(metrics, name, extra) {
    const res = {};
    for (const s of metrics[name] || []) {
      const k = s.labels.mapping;
      if (k === undefined) continue;
      if (extra) (res[k] = res[k] || {})[s.labels[extra]] = s.value;
      else res[k] = s.value;
    }
    return res;
  }

  function takeSample(metrics, now) {
    // Refreshes after an action come between polls: rates over a few milliseconds mean nothing.
    if (samples.length && now - samples[samples.length - 1].t < 1000) return;
    const recv = byMapping(metrics, 'sluice_records_received_total');
    const deliv = byMapping(metrics, 'sluice_records_delivered_total');
    const backlog = byMapping(metrics, 'sluice_source_backlog');
    const dlq = byMapping(metrics, 'sluice_dlq_depth');
    const inv = byMapping(metrics, 'sluice_invocations_total', 'outcome');
    const m = {};
    for (const k of Object.keys(recv))
      m[k] = { recv: recv[k], deliv: deliv[k], backlog: backlog[k], dlq: dlq[k], inv: inv[k] || {} };
    samples.push({ t: now, m });
    while (samples.length && samples[0].t < now - WINDOW_MS) samples.shift();
  }

  // Points {t, v} of one mapping over the window: a gauge, or a counter's rate per second.
  function series(name, pick, rate) {
    const pts = [];
    for (let i = rate ? 1 : 0; i < samples.length; i++) {
      const cur = samples[i].m[name];
      if (!cur) continue;
      let v = pick(cur);
      if (rate) {
        const prev = samples[i - 1].m[name];
        const dt = (samples[i].t - samples[i - 1].t) / 1000;
        if (!prev || dt <= 0 || pick(prev) === undefined || v === undefined) continue;
        v = Math.max(0, v - pick(prev)) / dt;
      }
      if (v !== undefined && !Number.isNaN(v)) pts.push({ t: samples[i].t, v });
    }
    return pts;
  }

  const SVG = 'http://www.w3.org/2000/svg';

  // The charts' time axis: since the first sample (at least a minute), at most the window.
  function span(now) {
    return samples.length ? Math.min(WINDOW_MS, Math.max(60000, now - samples[0].t)) : 60000;
  }

  function drawChart(svg, lines, now) {
    const w = 200, h = 48, ms = span(now);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('preserveAspectRatio', 'none');
    let max = 0;
    for (const pts of lines) for (const p of pts) max = Math.max(max, p.v);
    if (max <= 0) max = 1;
    const kids = [];
    lines.forEach((pts, i) => {
      const pl = document.createElementNS(SVG, 'polyline');
      pl.setAttribute('class', 'l' + (i + 1));
      pl.setAttribute('points', pts.map((p) => {
        const x = w - ((now - p.t) / ms) * w;
        const y = h - 2 - (p.v / max) * (h - 4);
        return x.toFixed(1) + ',' + y.toFixed(1);
      }).join(' '));
      kids.push(pl);
    });
    svg.replaceChildren(...kids);
  }

  function fmt(v, digits) {
    if (v === undefined || v === null || Number.isNaN(v)) return '–';
    if (digits !== undefined && v !== Math.round(v)) return v.toFixed(digits);
    return String(v);
  }

  // ---- mappings ----

  function fact(dl, label) {
    dl.appendChild(el('dt', null, label));
    const dd = el('dd');
    dl.appendChild(dd);
    return dd;
  }

  function chartBox(title) {
    const box = el('div', 'chart');
    const head = el('div', 'title');
    head.appendChild(el('span', null, title));
    const value = el('span', 'value');
    head.appendChild(value);
    box.appendChild(head);
    const svg = document.createElementNS(SVG, 'svg');
    box.appendChild(svg);
    return { box, svg, value };
  }

  function makeCard(name) {
    const c = { root: el('div', 'card') };
    c.root.dataset.mapping = name;
    const head = el('div', 'card-head');
    head.appendChild(el('span', 'name', name));
    c.state = el('span', 'badge state');
    head.appendChild(c.state);
    c.toggle = el('button', 'toggle');
    c.toggle.type = 'button';
    c.toggle.addEventListener('click', () => toggleMapping(name, c.toggle.dataset.action));
    head.appendChild(c.toggle);
    c.root.appendChild(head);
    const dl = el('dl', 'facts');
    c.reason = fact(dl, 'Reason');
    c.source = fact(dl, 'Source');
    c.result = fact(dl, 'Last result');
    c.inflight = fact(dl, 'In flight');
    c.dlq = fact(dl, 'DLQ depth');
    c.root.appendChild(dl);
    const charts = el('div', 'charts');
    c.thr = chartBox('records/s in · out');
    c.lag = chartBox('lag (records)');
    c.depth = chartBox('DLQ depth');
    for (const x of [c.thr, c.lag, c.depth]) charts.appendChild(x.box);
    c.root.appendChild(charts);
    c.outcomes = el('div', 'outcomes');
    c.root.appendChild(c.outcomes);
    return c;
  }

  function stateClass(s) {
    return s === 'Enabled' ? 'ok' : s === 'Disabled' ? 'bad' : 'warn';
  }

  function renderMappings(list, now) {
    const box = $('mappings');
    const seen = new Set();
    for (const m of list) {
      seen.add(m.name);
      let c = cards.get(m.name);
      if (!c) {
        c = makeCard(m.name);
        cards.set(m.name, c);
        box.appendChild(c.root);
      }
      c.state.textContent = m.State;
      c.state.className = 'badge state ' + stateClass(m.State);
      const enabled = m.State === 'Enabled' || m.State === 'Creating';
      c.toggle.textContent = enabled ? 'Disable' : 'Enable';
      c.toggle.dataset.action = enabled ? 'disable' : 'enable';
      c.reason.textContent = m.StateTransitionReason || '–';
      const src = m.source || {};
      const srcName = (src.name || '?') + (src.type ? ' (' + src.type + ')' : '');
      c.source.textContent = srcName + ': ' + (m.SourceReachable === false
        ? 'unreachable' + (m.SourceUnreachableReason ? ' – ' + m.SourceUnreachableReason : '')
        : 'reachable');
      c.source.className = m.SourceReachable === false ? 'source bad' : 'source';
      c.result.textContent = m.LastProcessingResult || '–';
      const inf = m.inflight || {};
      c.inflight.textContent = fmt(inf.records) + ' records, ' + fmt(inf.invocations) + ' invocations';

      const last = samples.length ? samples[samples.length - 1].m[m.name] : null;
      c.dlq.textContent = last && last.dlq !== undefined ? fmt(last.dlq) : 'unknown';
      const inRate = series(m.name, (x) => x.recv, true);
      const outRate = series(m.name, (x) => x.deliv, true);
      drawChart(c.thr.svg, [inRate, outRate], now);
      const lastOf = (pts) => (pts.length ? pts[pts.length - 1].v : undefined);
      c.thr.value.textContent = fmt(lastOf(inRate), 1) + ' · ' + fmt(lastOf(outRate), 1);
      let lag = series(m.name, (x) => x.backlog, false);
      drawChart(c.lag.svg, [lag], now);
      c.lag.value.textContent = fmt(m.lagRecords !== undefined && m.lagRecords !== null
        ? m.lagRecords : lastOf(lag));
      const depth = series(m.name, (x) => x.dlq, false);
      drawChart(c.depth.svg, [depth], now);
      c.depth.value.textContent = fmt(lastOf(depth));

      // Invocations by outcome over the window (since the first sample) and in all.
      const first = samples.find((s) => s.m[m.name]);
      const kids = [el('span', 'muted', 'invocations, 15 min (total):')];
      for (const o of ['ok', 'partial', 'retry', 'fail']) {
        const total = last && last.inv[o] !== undefined ? last.inv[o] : undefined;
        const base = first && first.m[m.name].inv[o] !== undefined ? first.m[m.name].inv[o] : 0;
        const span = el('span', 'outcome');
        span.dataset.outcome = o;
        span.appendChild(document.createTextNode(o + ' '));
        span.appendChild(el('span', 'n', fmt(total === undefined ? undefined : total - base)));
        span.appendChild(document.createTextNode(' (' + fmt(total) + ')'));
        kids.push(span);
      }
      c.outcomes.replaceChildren(...kids);
    }
    for (const [name, c] of cards) {
      if (!seen.has(name)) {
        c.root.remove();
        cards.delete(name);
      }
    }
    // The mapping filter of the DLQ browser.
    const sel = $('f-mapping');
    const have = new Set(Array.from(sel.options).map((o) => o.value));
    for (const m of list) {
      if (!have.has(m.name)) {
        const o = el('option', null, m.name);
        o.value = m.name;
        sel.appendChild(o);
      }
    }
  }

  async function toggleMapping(name, action) {
    const ok = await confirmBox(action === 'disable'
      ? 'Disable mapping ' + name + '? It stops reading its source; records in flight finish.'
      : 'Enable mapping ' + name + '?', action === 'disable' ? 'Disable' : 'Enable');
    if (!ok) return;
    try {
      const m = await api('POST', '/v1/mappings/' + encodeURIComponent(name) + '/' + action);
      message(name + ': ' + m.State);
      await refresh();
    } catch (e) {
      if (!(e instanceof AuthNeeded)) message(e.message, true);
    }
  }

  // ---- DLQ ----

  function dlqQuery() {
    const q = new URLSearchParams();
    const mapping = $('f-mapping').value, since = $('f-since').value;
    if (mapping) q.set('mapping', mapping);
    if (since) q.set('since', since);
    q.set('limit', String(PAGE * pages));
    return '/v1/dlq?' + q.toString();
  }

  function renderDlq(page) {
    const cond = $('f-condition').value;
    const rows = [];
    for (const e of page.entries || []) {
      if (cond && e.condition !== cond) continue;
      const tr = el('tr');
      tr.dataset.id = e.id;
      tr.dataset.record = e.recordId;
      if (selected === e.id) tr.className = 'selected';
      tr.appendChild(el('td', null, (e.createdAt || '').replace('T', ' ').replace('Z', '')));
      tr.appendChild(el('td', null, e.mapping));
      tr.appendChild(el('td', null, e.condition));
      tr.appendChild(el('td', null, e.recordId));
      tr.appendChild(el('td', null, e.attempts));
      const err = el('td', 'err', e.lastError);
      err.title = e.lastError || '';
      tr.appendChild(err);
      tr.addEventListener('click', () => showEntry(e.id));
      rows.push(tr);
    }
    $('dlq-rows').replaceChildren(...rows);
    $('dlq-empty').hidden = rows.length > 0;
    $('dlq-more').hidden = !page.next;
    const mapping = $('f-mapping').value;
    $('dlq-redrive-all').disabled = !mapping;
    $('dlq-purge-all').disabled = !mapping;
  }

  let dlqSeq = 0;
  async function loadDlq() {
    const seq = ++dlqSeq;
    const page = await api('GET', dlqQuery());
    if (seq === dlqSeq) renderDlq(page); // else the filters changed while it was on its way
  }

  function pretty(v) {
    if (typeof v === 'string') {
      try {
        return JSON.stringify(JSON.parse(v), null, 2);
      } catch (e) {
        return v;
      }
    }
    return JSON.stringify(v, null, 2);
  }

  async function showEntry(id) {
    let e;
    try {
      e = await api('GET', '/v1/dlq/' + encodeURIComponent(id));
    } catch (err) {
      if (!(err instanceof AuthNeeded)) message(err.message, true);
      return;
    }
    selected = e.id;
    for (const tr of $('dlq-rows').children) tr.classList.toggle('selected', tr.dataset.id === e.id);
    $('entry-id').textContent = e.id;
    const dl = $('entry-facts');
    dl.replaceChildren();
    const facts = [['Mapping', e.mapping], ['Function', e.function],
      ['Source', e.source + ' (' + e.sourceType + ')'], ['Record', e.recordId],
      ['Condition', e.condition], ['Created', e.createdAt], ['First failure', e.firstFailureAt],
      ['Last failure', e.lastFailureAt],
      ['Attempts', e.attemptCount + (e.countedAttempts !== null && e.countedAttempts !== undefined
        ? ' (' + e.countedAttempts + ' counted)' : '')]];
    for (const [k, v] of facts) fact(dl, k).textContent = v === undefined || v === null ? '–' : v;
    $('entry-payload').textContent = e.payloadBase64 !== undefined
      ? '(binary, base64) ' + e.payloadBase64 : e.payload === null ? '(no value)' : pretty(e.payload);
    const rows = (e.attempts || []).map((a) => {
      const tr = el('tr');
      for (const v of [a.time, a.outcome, a.status, a.durationMs,
        a.counted === null ? '?' : a.counted ? 'yes' : 'no',
        [a.error, a.functionError, a.response].filter((x) => x).join(' · ')])
        tr.appendChild(el('td', null, v === undefined || v === null ? '' : v));
      return tr;
    });
    $('entry-attempts').replaceChildren(...rows);
    $('entry-onfailure').textContent = pretty(e.onFailure);
    $('entry').hidden = false;
  }

  function closeEntry() {
    selected = null;
    $('entry').hidden = true;
    for (const tr of $('dlq-rows').children) tr.classList.remove('selected');
  }

  function summary(what, r) {
    if (r.purged !== undefined) return what + ': ' + r.purged + ' purged';
    let s = what + ': ' + r.redriven + ' redriven, ' + r.failed + ' failed, ' + r.skipped + ' skipped';
    const bad = (r.entries || []).find((x) => x.status !== 'redriven');
    if (bad && bad.detail) s += ' (' + bad.detail + ')';
    if (r.error) s += ' – ' + r.error;
    return s;
  }

  async function dlqAction(text, verb, method, path, body, after) {
    if (!(await confirmBox(text, verb))) return;
    try {
      const r = await api(method, path, body);
      message(summary(verb, r), r.failed > 0 || !!r.error);
      if (after) after(r);
      await loadDlq();
    } catch (e) {
      if (!(e instanceof AuthNeeded)) message(e.message, true);
    }
  }

  // ---- confirmation ----

  function confirmBox(text, verb) {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = verb;
    return new Promise((resolve) => {
      const done = (v) => {
        $('confirm-ok').onclick = null;
        $('confirm-cancel').onclick = null;
        d.onclose = null;
        d.close();
        resolve(v);
      };
      $('confirm-ok').onclick = () => done(true);
      $('confirm-cancel').onclick = () => done(false);
      d.onclose = () => done(false);
      d.showModal();
    });
  }

  // ---- polling ----

  async function refresh() {
    const now = Date.now();
    // One call first: without the token, it alone gets the 401.
    const mappings = await api('GET', '/v1/mappings');
    const [metrics, ready] = await Promise.all([
      api('GET', '/metrics'),
      fetch('/readyz', { cache: 'no-store' }).then(async (r) => ({ status: r.status, body: await r.json() })),
    ]);
    takeSample(parseMetrics(metrics), now);
    $('span').textContent = Math.round(span(now) / 60000) + ' min';
    renderMappings(mappings.mappings || [], now);
    const r = $('ready');
    r.textContent = ready.status === 200 ? 'ready'
      : (ready.body.reason || ready.body.status || 'not ready');
    r.className = 'badge ' + (ready.status === 200 ? 'ok' : 'bad');
    await loadDlq();
    $('updated').textContent = 'updated ' + new Date(now).toLocaleTimeString();
    $('auth').hidden = true;
    $('main').hidden = false;
  }

  function stopPolling() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
  }

  async function poll() {
    stopPolling();
    try {
      await refresh();
      if (pollFailed) message(null);
      pollFailed = false;
    } catch (e) {
      if (e instanceof AuthNeeded) return; // polling resumes once a token is given
      message('cannot reach sluice: ' + e.message, true);
      pollFailed = true;
    }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  function start() {
    $('auth-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      token = $('token').value.trim() || null;
      $('token').value = '';
      message(null);
      poll();
    });
    const refilter = () => {
      pages = 1;
      loadDlq().catch((e) => { if (!(e instanceof AuthNeeded)) message(e.message, true); });
    };
    for (const id of ['f-mapping', 'f-condition', 'f-since']) $(id).addEventListener('change', refilter);
    $('dlq-more').addEventListener('click', () => { pages++; refilter.call(null); });
    $('entry-close').addEventListener('click', closeEntry);
    $('entry-redrive').addEventListener('click', () => {
      const id = selected;
      dlqAction('Redrive entry ' + id + ' to its function now? It is removed from the DLQ once the function takes it.',
        'Redrive', 'POST', '/v1/dlq/redrive', { id }, (r) => { if (r.redriven > 0) closeEntry(); });
    });
    $('entry-purge').addEventListener('click', () => {
      const id = selected;
      dlqAction('Purge entry ' + id + '? It is deleted for good.', 'Purge', 'DELETE',
        '/v1/dlq/' + encodeURIComponent(id), undefined, closeEntry);
    });
    $('dlq-redrive-all').addEventListener('click', () => {
      const mapping = $('f-mapping').value;
      dlqAction('Redrive every DLQ entry of mapping ' + mapping + ' to its function now?', 'Redrive',
        'POST', '/v1/dlq/redrive', { mapping });
    });
    $('dlq-purge-all').addEventListener('click', () => {
      const mapping = $('f-mapping').value;
      dlqAction('Purge every DLQ entry of mapping ' + mapping + '? They are deleted for good.', 'Purge',
        'POST', '/v1/dlq/purge', { mapping }, closeEntry);
    });
    poll();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
