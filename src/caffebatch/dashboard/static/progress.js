// Live progress: poll the page's progress JSON while a run is active, update its bars
// in place, and reload once a run finishes (so the page shows its final counts and errors).
(function () {
  var root = document.querySelector("[data-progress-url]");
  if (!root) return;
  var url = root.getAttribute("data-progress-url");
  var ACTIVE = { INITIALIZING: true, RUNNING: true };

  function n(x) { return Number(x).toLocaleString("en-US"); }  // as the server writes them
  function runs() { return document.querySelectorAll("[data-id][data-status]"); }
  function anyActive() {
    return Array.prototype.some.call(runs(), function (el) { return ACTIVE[el.dataset.status]; });
  }
  function set(el, field, text) {
    var target = el.querySelector('[data-field="' + field + '"]');
    if (target && text !== undefined) target.textContent = text;
  }
  function update(el, p) {
    if (p.status !== el.dataset.status && !ACTIVE[p.status]) { window.location.reload(); return; }
    el.dataset.status = p.status;
    var bar = el.querySelector('[data-field="bar"]');
    if (bar && p.percent !== null) {
      bar.classList.remove("unknown");
      bar.setAttribute("aria-valuenow", p.percent);
      bar.querySelector(".fill").style.width = p.percent + "%";
    }
    var done = p.scored + p.failed + p.skipped;
    set(el, "text", p.total === null ? "listing inputs… " + n(p.scored) + " scored"
                                     : n(done) + " of " + n(p.total) + " (" + p.percent + "%)");
    var badge = document.querySelectorAll('[data-field="label"]');
    var own = el.querySelector('[data-field="label"]') || (badge.length === 1 ? badge[0] : null);
    if (own) own.textContent = p.label;
    set(el, "total", p.total === null ? "…" : n(p.total));
    set(el, "scored", n(p.scored));
    set(el, "failed", n(p.failed));
    set(el, "skipped", n(p.skipped));
    set(el, "rate", p.rate === null ? "—" : String(p.rate));
    set(el, "time_left", p.time_left || "—");
  }
  function poll() {
    if (!anyActive()) return;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (all) {
        runs().forEach(function (el) { if (all[el.dataset.id]) update(el, all[el.dataset.id]); });
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
})();
