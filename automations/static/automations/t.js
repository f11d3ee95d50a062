/* mailcrm site snippet: page views of people who came from one of our emails.
   The click redirect appends ?mc_id=<signed id>; this keeps it in first-party storage on the
   site's own domain and reports page views to the collect endpoint. Nothing is sent without
   an id, when Do Not Track is on, or after window.mailcrmOptOut() was called. */
(function () {
  var KEY = "mc_id", OUT = "mc_opt_out";
  var script = document.currentScript;
  var endpoint = (script && script.getAttribute("data-endpoint")) || "__ENDPOINT__";
  function store() { try { return window.localStorage; } catch (e) { return null; } }
  window.mailcrmOptOut = function () {
    var s = store(); if (s) { s.setItem(OUT, "1"); s.removeItem(KEY); }
  };
  try {
    var s = store();
    if (!s || s.getItem(OUT) === "1" || navigator.doNotTrack === "1") return;
    var id = new URLSearchParams(window.location.search).get(KEY);
    if (id) { s.setItem(KEY, id); } else { id = s.getItem(KEY); }
    if (!id) return;
    var body = JSON.stringify({
      mc_id: id, url: window.location.href, title: document.title, referrer: document.referrer
    });
    // text/plain: a "simple" cross-origin request, no preflight.
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([body], {type: "text/plain"}))) return;
    fetch(endpoint, {method: "POST", body: body, keepalive: true, mode: "no-cors",
                     headers: {"Content-Type": "text/plain"}});
  } catch (e) { /* never break the page */ }
})();
