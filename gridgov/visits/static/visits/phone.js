/* What a shared phone keeps, per user: the visit queue in IndexedDB (each item carries the id of the user
   who queued it; a user sees and sends only their own) and the service worker's copy of the member's pages
   (dropped at logout and whenever another user, or nobody, is logged in on this browser).
   Loaded on every page (base.html): the logout form warns of visits not sent yet. */
(function () {
  "use strict";
  var DATA_CACHE = "gridgov-visits-data";  // the member's page and household list (sw.js)
  var user = document.body.dataset.user || "";

  var opened = null;  // one connection per page, closed when another page upgrades the database
  function db() {
    if (opened) { return opened; }
    opened = new Promise(function (resolve, reject) {
      var open = indexedDB.open("gridgov", 2);
      open.onupgradeneeded = function (ev) {
        var store = ev.oldVersion < 1 ? open.result.createObjectStore("queue", { keyPath: "id" })
          : open.transaction.objectStore("queue");
        if (ev.oldVersion >= 1 && ev.oldVersion < 2) {
          // Queued by an earlier version of this page, with no owner: the user opening the page now,
          // as that version would have sent them (one user per phone until then).
          store.openCursor().onsuccess = function (e) {
            var cur = e.target.result;
            if (!cur) { return; }
            if (!cur.value.user) { var v = cur.value; v.user = user; v.state = v.state || "queued"; cur.update(v); }
            cur.continue();
          };
        }
      };
      open.onsuccess = function () {
        open.result.onversionchange = function () { open.result.close(); opened = null; };
        resolve(open.result);
      };
      open.onerror = function () { opened = null; reject(open.error); };
    });
    return opened;
  }
  function tx(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction("queue", mode);
        var out = fn(t.objectStore("queue"));
        t.oncomplete = function () { resolve(out && out.result !== undefined ? out.result : out); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  // This user's items, queued and refused; another user's stay in the store, never shown nor sent.
  function items() {
    if (!user) { return Promise.resolve([]); }
    return tx("readonly", function (s) { return s.getAll(); }).then(function (all) {
      return all.filter(function (v) { return v.user === user; });
    });
  }
  function put(v) { v.user = user; v.state = v.state || "queued"; return tx("readwrite", function (s) { s.put(v); }); }
  function remove(ids) { return tx("readwrite", function (s) { ids.forEach(function (id) { s.delete(id); }); }); }

  function clearData() {
    if (typeof caches === "undefined") { return Promise.resolve(false); }
    return caches.delete(DATA_CACHE).catch(function () { return false; });
  }

  // A user change on this browser (another login, or a logout by session expiry): the previous user's
  // cached pages go. `ready` says whether they went, for the visits page to cache its own again.
  var last = null;
  try { last = localStorage.getItem("gridgov-user"); localStorage.setItem("gridgov-user", user); } catch (e) { /* private mode */ }
  var ready = last !== null && last !== user ? clearData().then(function () { return true; }) : Promise.resolve(false);

  var logout = document.querySelector("form.logout");
  if (logout) {
    logout.addEventListener("submit", function (ev) {
      if (logout.dataset.checked) { return; }
      ev.preventDefault();
      var visits = window.gridgovVisits;
      var sent = visits && navigator.onLine ? visits.sync() : Promise.resolve();
      sent.catch(function () { return null; }).then(items).catch(function () { return []; }).then(function (mine) {
        if (mine.length && !window.confirm(logout.dataset.unsent.replace("{n}", String(mine.length)))) { return; }
        return clearData().then(function () {
          try { localStorage.setItem("gridgov-user", ""); } catch (e) { /* private mode */ }
          logout.dataset.checked = "1";
          logout.submit();
        });
      });
    });
  }

  window.gridgovPhone = { user: user, items: items, put: put, remove: remove, clearData: clearData, ready: ready, DATA_CACHE: DATA_CACHE };
})();
