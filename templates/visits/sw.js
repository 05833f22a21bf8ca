/* gridgov service worker: keeps the grid member's pages and households usable with no signal.
   Pages and the household list: network first, the cached copy when offline. Static files: cache first.
   The pages hold one user's data: they live in their own cache, which the pages drop at logout and when
   another user logs in on this browser (visits/phone.js). */
const CACHE = "gridgov-visits-{{ version }}";  // changes with the files below (views.assets_version)
const DATA = "gridgov-visits-data";  // the logged-in user's pages (phone.js knows this name)
const PAGES = ["/visits/", "/api/v1/visits/mine/"];
const ASSETS = [{% for a in assets %}"{{ a }}"{% if not forloop.last %}, {% endif %}{% endfor %}];

self.addEventListener("install", (event) => {
  event.waitUntil(Promise.all([
    caches.open(CACHE).then((cache) => cache.addAll(ASSETS)),
    caches.open(DATA).then((cache) => cache.addAll(PAGES)),
  ]).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE && k !== DATA).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") { return; }
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (PAGES.includes(url.pathname)) {
    event.respondWith(fetch(req).then((res) => {
      if (res.ok && !res.redirected) { const copy = res.clone(); caches.open(DATA).then((c) => c.put(url.pathname, copy)); }
      return res;
    }).catch(() => caches.open(DATA).then((c) => c.match(url.pathname))));
    return;
  }
  if (ASSETS.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(req)));
  }
});
