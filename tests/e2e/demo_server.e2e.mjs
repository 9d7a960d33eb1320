// Browser test of demo_server's page, run by ctest through http_smoke (which
// starts redis-server and demo_server first). Debian's chromium, headless,
// driven by playwright-core; never a browser that a tool downloads itself.
// Usage: node demo_server.e2e.mjs BASE_URL SCREENSHOT.png
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error("usage: node demo_server.e2e.mjs BASE_URL SCREENSHOT.png");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const prefix = process.env.REDIS_SESSION_E2E_PREFIX || here;
const chromiumPath = process.env.REDIS_SESSION_E2E_CHROMIUM || "/usr/bin/chromium";
const hint = "run tests/e2e/install-e2e-deps.sh";

let passed = 0;
let failed = 0;
function check(ok, what, detail = "") {
  if (ok) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}${detail ? ": " + detail : ""}`);
  }
  return ok;
}

// Missing tools fail the test: a browser test that skips proves nothing.
if (!fs.existsSync(chromiumPath)) {
  console.log(`FAIL chromium is missing at ${chromiumPath} (${hint})`);
  process.exit(1);
}
let playwright;
try {
  playwright = createRequire(path.join(prefix, "package.json"))("playwright-core");
} catch (e) {
  console.log(`FAIL playwright-core is missing under ${prefix}/node_modules (${hint}): ${e.message}`);
  process.exit(1);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "redis_session-e2e-chromium-"));
let context;
try {
  // launchPersistentContext is how playwright takes a --user-data-dir: a fresh one, removed below.
  context = await playwright.chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    timeout: 60_000,
    viewport: { width: 900, height: 820 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  // Every request stays on the demo server: the page loads nothing from elsewhere.
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) problems.push(`external request: ${r.url()}`);
  });

  const text = (id) => page.locator(`#${id}`).innerText();
  const waitText = async (id, expected, what) => {
    try {
      await page.waitForFunction(
        ([sel, want]) => document.getElementById(sel)?.textContent.trim() === want,
        [id, expected],
        { timeout: 10_000 },
      );
      return check(true, what);
    } catch {
      return check(false, what, `#${id} is '${await text(id)}', wanted '${expected}'`);
    }
  };
  // Waits until the shown session satisfies `ok` (the page refreshes it after each action).
  const waitSession = async (ok, what) => {
    let shown = "";
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      shown = await text("session-json");
      try {
        if (ok(JSON.parse(shown))) return check(true, what);
      } catch {
        // not JSON yet ("loading...")
      }
      await page.waitForTimeout(50);
    }
    return check(false, what, shown);
  };
  const sidCookies = async () => (await context.cookies(base)).filter((c) => c.name === "sid");

  const response = await page.goto(base + "/");
  check(response.status() === 200, "GET / loads", `status ${response.status()}`);
  check((await page.title()) === "redis_session demo", "the page has its title");
  await waitText("session-json", "{}", "a new visitor's session is {}");
  check((await sidCookies()).length === 0, "no cookie before the session has data");

  await page.click("#count-button");
  await waitText("count-value", "1", "Count once shows 1");
  await page.click("#count-button");
  await waitText("count-value", "2", "Count twice shows 2");
  await waitSession((s) => s.count === 2, "the session shows count 2");

  await page.fill("#user-input", "alice");
  await page.click("#login-button");
  await waitText("user-value", "alice", "logging in as alice shows the user");
  await waitSession((s) => s.user === "alice" && s.count === 2, "the session keeps count and gains user");

  // HttpOnly: the browser holds the cookie, page script cannot see it.
  const cookies = await sidCookies();
  check(cookies.length === 1 && cookies[0].httpOnly && cookies[0].sameSite === "Lax",
        "the browser holds one sid cookie, HttpOnly and SameSite=Lax", JSON.stringify(cookies));
  const documentCookie = await page.evaluate(() => document.cookie);
  check(!documentCookie.includes("sid="), "document.cookie cannot read the session cookie", documentCookie);
  check((await text("cookie-visible")).startsWith("no"), "the page reports the cookie as invisible",
        await text("cookie-visible"));

  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  check(fs.statSync(screenshot).size > 1000, `screenshot saved to ${screenshot}`);

  await page.click("#logout-button");
  await waitText("session-json", "{}", "logging out shows an empty session");
  await waitText("user-value", "(not logged in)", "logging out shows no user");
  check((await sidCookies()).length === 0, "logging out removes the cookie");

  // A reload after logout starts over: nothing of the old session comes back.
  await page.reload();
  await waitText("session-json", "{}", "after a reload the session is still empty");
  await page.click("#count-button");
  await waitText("count-value", "1", "counting after logout starts again at 1");

  check(problems.length === 0, "no page errors, console errors, failed or external requests", problems.join("; "));
} catch (e) {
  check(false, "the browser test ran to the end", e.stack || String(e));
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
