// A browser without a screen, for the login-flow tests: follows redirects across the gateway
// and the OpenID provider with a cookie jar, and submits the provider's development forms as a
// person would (log in as USER, consent, confirm logout).
//
//   node browse.mjs JAR USER URL
//
// JAR is a JSON file of cookies per origin, read before and written after, so that several
// runs are one browser. Prints the last response as JSON: { url, status, headers, body, visited }:
// the first that is neither a redirect nor a provider's form, or a redirect that hands over a
// session in X-APIGW-TOKEN (which a client keeps instead of following it).
// Every request accepts text/html, as a browser's navigation does. The provider's CA comes from
// NODE_EXTRA_CA_CERTS.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [jarFile, user, start] = process.argv.slice(2);
const jar = existsSync(jarFile) ? JSON.parse(readFileSync(jarFile, 'utf8')) : {};

function cookieHeader(url) {
  const cookies = jar[new URL(url).origin] ?? {};
  return Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');
}

function remember(url, response) {
  const origin = new URL(url).origin;
  const cookies = (jar[origin] ??= {});
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';').map((s) => s.trim());
    const at = pair.indexOf('=');
    const [name, value] = [pair.slice(0, at), pair.slice(at + 1)];
    const expired = attributes.some((a) => /^max-age=0$/i.test(a) || /^expires=thu, 01 jan 1970/i.test(a));
    if (expired || value === '') delete cookies[name];
    else cookies[name] = value;
  }
}

// The provider's form on this page, filled in: its action and fields, or null.
function filledForm(html, base) {
  const form = html.match(/<form[^>]*action="([^"]+)"[^>]*>/i) ?? html.match(/<form[^>]*>/i);
  if (!form || !/method="post"/i.test(form[0])) return null;
  const action = new URL((form[1] ?? base).replace(/&amp;/g, '&'), base).href;
  const fields = new URLSearchParams();
  for (const input of html.matchAll(/<input[^>]*>/gi)) {
    const name = input[0].match(/name="([^"]+)"/i)?.[1];
    const value = input[0].match(/value="([^"]*)"/i)?.[1] ?? '';
    if (!name) continue;
    if (name === 'login') fields.set(name, user);
    else if (name === 'password') fields.set(name, 'any password');
    else fields.set(name, value);
  }
  // The logout confirmation's button carries the answer.
  if (/name="logout"/i.test(html)) fields.set('logout', 'yes');
  return { action, fields };
}

let url = start;
let method = 'GET';
let body;
const visited = [];
for (let step = 0; step < 30; step++) {
  visited.push(`${method} ${url}`);
  const headers = { accept: 'text/html,application/xhtml+xml', cookie: cookieHeader(url) };
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
  const response = await fetch(url, { method, body, headers, redirect: 'manual' });
  remember(url, response);
  const text = await response.text();
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location && !response.headers.has('x-apigw-token')) {
    url = new URL(location, url).href;
    method = 'GET';
    body = undefined;
    continue;
  }
  const form = response.status === 200 && new URL(url).protocol === 'https:' ? filledForm(text, url) : null;
  if (form) {
    url = form.action;
    method = 'POST';
    body = form.fields.toString();
    continue;
  }
  writeFileSync(jarFile, JSON.stringify(jar));
  console.log(JSON.stringify({
    url, status: response.status, headers: Object.fromEntries(response.headers), body: text, visited,
  }));
  process.exit(0);
}
console.error(`no page after 30 steps: ${visited.join('\n')}`);
process.exit(1);
