package statusz

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// servePage writes the HTML page. Its script and style carry a nonce that
// the page's Content-Security-Policy requires, so that nothing but them
// runs, and nothing is loaded from anywhere but the handler itself.
func (h *Handler) servePage(rw http.ResponseWriter) {
	var b [18]byte
	_, _ = rand.Read(b[:])
	nonce := base64.StdEncoding.EncodeToString(b[:])
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	rw.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = rw.Write([]byte(strings.ReplaceAll(page, "NONCE", nonce)))
}

// page is the status page: a shell that the inline script fills from the
// event stream (?format=sse), updating in place what changed.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>resgen status</title>
<style nonce="NONCE">
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1f24; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .3em; }
h3 { font-size: 1em; margin: 1em 0 .3em; color: #444; }
table { border-collapse: collapse; margin-bottom: .5em; }
th, td { text-align: left; padding: .25em .7em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { font-weight: 600; background: #f4f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: 700; padding: .1em .5em; border-radius: .3em; }
.state[data-state="CLOSED"] { background: #d8f5dc; color: #135c21; }
.state[data-state="OPEN"] { background: #fbd9d9; color: #8a1010; }
.state[data-state="HALF_OPEN"] { background: #fdf0c8; color: #6b4e00; }
.forced { font-weight: 700; color: #8a1010; }
.muted { color: #666; }
ul { margin: 0; padding-left: 1.1em; }
li { white-space: nowrap; }
.errors li { white-space: normal; max-width: 40em; }
button { margin: 0 .3em .2em 0; }
#conn[data-live="true"] { color: #135c21; }
#conn[data-live="false"] { color: #8a1010; }
#msg { color: #8a1010; }
</style>
</head>
<body>
<h1>resgen status</h1>
<p class="muted"><span id="conn" data-live="false">connecting…</span> · <span id="time"></span> <span id="msg"></span></p>
<noscript><p>This page updates itself with a script. Without it, read <a href="?format=json">the JSON</a>.</p></noscript>
<div id="root"></div>
<script nonce="NONCE">
"use strict";
(function () {
  const root = document.getElementById("root");
  const conn = document.getElementById("conn");
  const msg = document.getElementById("msg");
  const base = location.pathname;

  // el builds an element; children are nodes or text.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  const clock = (t) => new Date(t).toISOString().slice(11, 19);
  const plural = (n, w) => n + " " + w + (n === 1 ? "" : w.endsWith("s") ? "es" : "s");
  const secs = (s) => (s >= 10 ? Math.round(s) : Math.round(s * 10) / 10) + "s";

  function classes(byClass) {
    const ks = Object.keys(byClass || {}).sort();
    if (ks.length === 0) return el("span", {class: "muted"}, "none");
    return el("ul", {}, ks.map((k) => el("li", {"data-class": k}, k + ": " + byClass[k])));
  }

  function breakerRow(w, b, actions) {
    const trs = b.transitions.slice().reverse().map((t) =>
      el("li", {}, clock(t.at) + " " + t.from + " → " + t.to +
        (t.to === "OPEN" && !t.forced ? " (" + plural(t.failures, "failure") + ")" : "") + (t.forced ? " (forced)" : "")));
    const cell = el("td", {class: "actions"});
    if (actions && b.forceable) {
      for (const [mode, label] of [["open", "Force open"], ["closed", "Force closed"], ["normal", "Back to normal"]]) {
        cell.appendChild(el("button", {type: "button", "data-mode": mode, "data-wrapper": w.wrapper,
          "data-instance": w.instance, "data-breaker": b.name, disabled: b.forced === mode}, label));
      }
    } else {
      cell.appendChild(el("span", {class: "muted"}, actions ? "kept in a store" : "off"));
    }
    return el("tr", {"data-breaker": b.name},
      el("td", {}, b.name),
      el("td", {}, el("span", {class: "state", "data-state": b.state}, b.state)),
      el("td", {class: b.forced === "normal" ? "muted" : "forced"}, b.forced === "normal" ? "no" : "forced " + b.forced),
      el("td", {}, b.methods.join(", ")),
      el("td", {class: "muted"}, "opens after " + plural(b.failure_threshold, "failure") + ", probes after " +
        secs(b.recovery_timeout_seconds) + ", closes after " + plural(b.success_threshold, "success")),
      el("td", {class: "num"}, b.last_outage_seconds ? secs(b.last_outage_seconds) : "–"),
      el("td", {class: "transitions"}, trs.length ? el("ul", {}, trs) : el("span", {class: "muted"}, "none")),
      cell);
  }

  function methodRow(m) {
    const c = m.last_minute;
    const l = m.limiter;
    const errs = m.recent_errors.slice().reverse().map((e) =>
      el("li", {}, clock(e.at) + " [" + e.class + ", attempt " + e.attempt + "] " + e.error));
    return el("tr", {"data-method": m.name},
      el("td", {}, m.name),
      el("td", {}, m.breaker_state ? el("span", {class: "state", "data-state": m.breaker_state}, m.breaker_state) : "–"),
      el("td", {class: "limiter"}, l ? (l.tokens === null ? "?" : l.tokens.toFixed(1)) + " / " + l.burst_size +
        " tokens, " + l.max_requests_per_minute + "/min, " + l.strategy + (l.queue_depth ? ", " + l.queue_depth + " queued" : "") +
        (l.adaptive_rate === null ? "" : ", adaptive: " + Math.round(l.adaptive_rate) + "/min now") : "–"),
      el("td", {class: "concurrency"}, m.concurrency ? m.concurrency.in_flight + " / " + m.concurrency.limit + " in flight" +
        (m.concurrency.rejected ? ", " + m.concurrency.rejected + " turned away" : "") : "–"),
      el("td", {class: "num calls"}, c.calls),
      el("td", {class: "num successes"}, c.successes),
      el("td", {class: "num failures"}, c.failures),
      el("td", {class: "num attempts"}, c.attempts),
      el("td", {class: "classes"}, classes(c.failed_by_class)),
      el("td", {class: "num retries"}, c.retries),
      el("td", {class: "num rejected"}, c.rejected),
      el("td", {class: "throttle"}, (m.throttle > 0 ? "rejecting " + Math.round(100 * m.throttle) + "%, " : "") +
        c.throttled + " throttled, " + c.budget_denied + " retries denied"),
      el("td", {class: "num total"}, m.total.calls),
      el("td", {class: "errors"}, errs.length ? el("ul", {class: "errors"}, errs) : el("span", {class: "muted"}, "none")));
  }

  function render(st) {
    const wrappers = st.wrappers.map((w) => el("section", {class: "wrapper", "data-id": w.wrapper + "/" + w.instance},
      el("h2", {}, w.wrapper + " ", el("span", {class: "muted"}, "instance " + w.instance)),
      el("h3", {}, "Circuit breakers"),
      w.breakers.length ? el("table", {class: "breakers"},
        el("tr", {}, ["breaker", "state", "forced", "methods", "settings", "last outage", "recent transitions (UTC)", "actions"]
          .map((h) => el("th", {}, h))),
        w.breakers.map((b) => breakerRow(w, b, st.actions))) : el("p", {class: "muted"}, "none"),
      el("h3", {}, "Methods ", el("span", {class: "muted"}, "(counts over the last " + secs(w.window_seconds) + ")")),
      el("table", {class: "methods"},
        el("tr", {}, ["method", "breaker", "rate limit", "concurrency", "calls", "successes", "failures", "attempts",
          "failed attempts by class", "retries", "rejected", "overload", "calls in all", "recent errors (UTC)"].map((h) => el("th", {}, h))),
        w.methods.map(methodRow))));
    const next = el("div", {id: "root"}, wrappers.length ? wrappers : el("p", {class: "muted"}, "No wrapper is registered."));
    morph(root, next);
    document.getElementById("time").textContent = "as of " + clock(st.time) + " UTC";
  }

  // morph makes a look like b, changing only what differs, so that
  // buttons and selections survive each update.
  function morph(a, b) {
    if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) { a.replaceWith(b); return; }
    if (a.nodeType === Node.TEXT_NODE) { if (a.data !== b.data) a.data = b.data; return; }
    for (const {name, value} of Array.from(b.attributes)) if (a.getAttribute(name) !== value) a.setAttribute(name, value);
    for (const {name} of Array.from(a.attributes)) if (!b.hasAttribute(name)) a.removeAttribute(name);
    const ac = Array.from(a.childNodes), bc = Array.from(b.childNodes);
    bc.forEach((c, i) => { if (i < ac.length) morph(ac[i], c); else a.appendChild(c); });
    for (let i = bc.length; i < ac.length; i++) ac[i].remove();
  }

  root.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-mode]");
    if (!btn) return;
    msg.textContent = "";
    const body = {wrapper: btn.dataset.wrapper, instance: btn.dataset.instance, breaker: btn.dataset.breaker, mode: btn.dataset.mode};
    try {
      const res = await fetch(base, {method: "POST", headers: {"Content-Type": "application/json", "X-Resgen-Action": "force"},
        body: JSON.stringify(body), credentials: "same-origin"});
      if (!res.ok) { msg.textContent = (await res.text()).trim(); return; }
      render(await res.json());
    } catch (e) {
      msg.textContent = String(e);
    }
  });

  const es = new EventSource(base + "?format=sse");
  es.addEventListener("open", () => { conn.textContent = "live"; conn.dataset.live = "true"; });
  es.addEventListener("error", () => { conn.textContent = "reconnecting…"; conn.dataset.live = "false"; });
  es.addEventListener("status", (ev) => render(JSON.parse(ev.data)));
})();
</script>
</body>
</html>
`
