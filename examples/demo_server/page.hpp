#pragma once
// The demo's page: buttons for the session routes, and a line that shows
// whether page script can see the session cookie (it must not: HttpOnly).
// Inline script and style only (see the Content-Security-Policy in app.cpp).

#include <string_view>

namespace demo {

inline constexpr std::string_view index_html = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>redis_session demo</title>
<link rel="icon" href="data:,">
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  p.lead { color: #666; margin-top: 0; }
  section { border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem; margin: 1rem 0; }
  h2 { font-size: 1rem; margin: 0 0 .5rem; }
  button { font: inherit; padding: .3rem .9rem; border-radius: 6px; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
  button:hover { background: #e8e8e8; }
  button:disabled { color: #999; cursor: wait; }
  input { font: inherit; padding: .3rem .5rem; border-radius: 6px; border: 1px solid #888; }
  pre { background: #f7f7f7; padding: .6rem; border-radius: 6px; margin: 0; overflow-x: auto; }
  .value { font-weight: 600; font-variant-numeric: tabular-nums; margin-left: .6rem; }
  .row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  #status { color: #b00020; min-height: 1.5em; }
  .ok { color: #1b7e1b; } .bad { color: #b00020; }
</style>
</head>
<body>
<h1>redis_session demo</h1>
<p class="lead">A session kept in the store, named by an HttpOnly cookie.</p>
<section>
  <h2>Counter</h2>
  <div class="row"><button id="count-button">Count</button><span>count:</span><span id="count-value" class="value">-</span></div>
</section>
<section>
  <h2>Login</h2>
  <div class="row">
    <input id="user-input" placeholder="your name" maxlength="64" autocomplete="off">
    <button id="login-button">Log in</button>
    <button id="logout-button">Log out</button>
  </div>
  <p>user: <span id="user-value" class="value">(not logged in)</span></p>
</section>
<section>
  <h2>Session</h2>
  <pre id="session-json">loading...</pre>
  <p>session cookie visible to page script (document.cookie):
     <span id="cookie-visible" class="value">?</span></p>
</section>
<p id="status" role="status"></p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
async function call(method, url) {
  const r = await fetch(url, { method, credentials: "same-origin", cache: "no-store" });
  const text = await r.text();
  if (!r.ok) throw new Error(method + " " + url + ": " + r.status + " " + text.trim());
  return text;
}
function showCookie() {
  const visible = document.cookie.split(";").some((c) => c.trim().startsWith("sid="));
  const el = $("cookie-visible");
  el.textContent = visible ? "yes (not HttpOnly!)" : "no (HttpOnly)";
  el.className = "value " + (visible ? "bad" : "ok");
}
async function refresh() {
  const s = JSON.parse(await call("GET", "/session"));
  $("session-json").textContent = JSON.stringify(s, null, 2);
  $("user-value").textContent = typeof s.user === "string" ? s.user : "(not logged in)";
  if (typeof s.count === "number") $("count-value").textContent = String(s.count);
  showCookie();
}
// One action at a time: the buttons are disabled until its refresh is done,
// so a slow response never overwrites a newer one.
const buttons = ["count-button", "login-button", "logout-button"].map($);
function action(f) {
  return async () => {
    $("status").textContent = "";
    buttons.forEach((b) => (b.disabled = true));
    try { await f(); } catch (e) { $("status").textContent = e.message; }
    buttons.forEach((b) => (b.disabled = false));
  };
}
$("count-button").onclick = action(async () => {
  $("count-value").textContent = (await call("GET", "/count")).trim();
  await refresh();
});
$("login-button").onclick = action(async () => {
  const name = $("user-input").value.trim();
  if (!name) throw new Error("enter a name first");
  await call("POST", "/login?user=" + encodeURIComponent(name));
  await refresh();
});
$("logout-button").onclick = action(async () => {
  await call("POST", "/logout");
  $("count-value").textContent = "-";
  await refresh();
});
action(refresh)();
</script>
</body>
</html>
)html";

}  // namespace demo
