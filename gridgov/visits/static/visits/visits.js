/* My visits: households by due date, log a visit in a few taps, queue it on the phone (IndexedDB)
   and send it when there is signal. Works offline once the page has been opened online. */
(function () {
  "use strict";
  var app = document.getElementById("visits-app");
  if (!app) { return; }
  var L10N = JSON.parse(document.getElementById("visit-labels").textContent);
  var form = document.getElementById("visit-form");
  var current = null;
  var households = [];

  // --- the queue on the phone -------------------------------------------------------------------
  function db() {
    return new Promise(function (resolve, reject) {
      var open = indexedDB.open("gridgov", 1);
      open.onupgradeneeded = function () { open.result.createObjectStore("queue", { keyPath: "id" }); };
      open.onsuccess = function () { resolve(open.result); };
      open.onerror = function () { reject(open.error); };
    });
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
  function queued() { return tx("readonly", function (s) { return s.getAll(); }); }
  function enqueue(v) { return tx("readwrite", function (s) { s.put(v); }); }
  function dequeue(ids) { return tx("readwrite", function (s) { ids.forEach(function (id) { s.delete(id); }); }); }

  function csrf() {
    var m = document.cookie.match(/csrftoken=([^;]+)/);
    if (m) { return m[1]; }
    var el = document.querySelector("input[name=csrfmiddlewaretoken]");
    return el ? el.value : "";
  }

  function showStatus() {
    return queued().then(function (items) {
      var el = document.getElementById("sync-status");
      el.dataset.unsynced = String(items.length);
      el.textContent = items.length ? L10N.unsynced + ": " + items.length + (navigator.onLine ? "" : " · " + L10N.offline)
        : (navigator.onLine ? L10N.synced : L10N.offline);
      return items;
    });
  }

  var syncing = false;
  function sync() {
    if (syncing || !navigator.onLine) { return showStatus(); }
    syncing = true;
    return queued().then(function (items) {
      if (!items.length) { return null; }
      var bare = items.map(function (v) {  // the photo goes on its own once the visit is stored
        var copy = {}; Object.keys(v).forEach(function (k) { if (k !== "photo") { copy[k] = v[k]; } }); return copy;
      });
      return fetch(app.dataset.sync, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ visits: bare })
      }).then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); }).then(function (out) {
        var done = [], uploads = [];
        out.results.forEach(function (res, i) {
          var item = items[res.index !== undefined ? res.index : i];
          if (res.status === "error") {
            var li = document.createElement("li");
            var said = [];  // the server's messages (translated), not its JSON
            Object.keys(res.errors || {}).forEach(function (k) { said = said.concat(res.errors[k]); });
            li.textContent = L10N.error + " " + (item.address || item.household) + ": " + said.join(" ");
            document.getElementById("refused").appendChild(li);
          }
          if (res.status !== "error" && item.photo) { uploads.push(sendPhoto(item)); return; }
          done.push(item.id);  // sent: stored, already stored, or refused with its reason shown
        });
        return Promise.all(uploads).then(function (sent) {
          return dequeue(done.concat(sent.filter(Boolean)));
        }).then(load);
      });
    }).catch(function () { /* no signal after all: keep the queue */ }).then(function () {
      syncing = false;
      return showStatus();
    });
  }

  // A visit's photo, once the visit is stored: the item leaves the queue when the photo is kept or refused
  // (its reason shown); with no signal or a server error it stays, and the visit is sent again (it exists).
  function sendPhoto(item) {
    var body = new FormData();
    body.append("photo", item.photo, item.photo.name || "photo.jpg");
    return fetch(app.dataset.photo.replace("00000000-0000-0000-0000-000000000000", item.id), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() }, body: body
    }).then(function (r) {
      if (r.ok) { return item.id; }
      if (r.status !== 400) { return null; }
      return r.json().then(function (e) {
        var li = document.createElement("li");
        li.textContent = L10N.photo_refused + " " + (item.address || item.household) + ": " + [].concat(e.photo || e.detail || []).join(" ");
        document.getElementById("refused").appendChild(li);
        return item.id;
      });
    }).catch(function () { return null; });
  }

  // Phone cameras take photos of several MB: made at most 1600 px and JPEG before they wait on the phone
  // and travel over a poor signal (the original when the browser cannot draw it).
  function smaller(file) {
    if (!file || !file.size) { return Promise.resolve(null); }
    if (typeof createImageBitmap === "undefined") { return Promise.resolve(file); }
    return createImageBitmap(file).then(function (img) {
      var scale = Math.min(1, 1600 / Math.max(img.width, img.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(img.width * scale); canvas.height = Math.round(img.height * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) { resolve(blob && blob.size < file.size ? blob : file); }, "image/jpeg", 0.85);
      });
    }).catch(function () { return file; });
  }

  // --- households and the form ------------------------------------------------------------------
  function render() {
    var ul = document.getElementById("households");
    ul.innerHTML = "";
    households.forEach(function (h) {
      var li = document.createElement("li");
      li.className = "card visit-row " + h.status;
      li.dataset.code = h.code;
      li.dataset.status = h.status;
      var badges = h.key_groups.map(function (k) {
        return "<span class='badge' data-group='" + escapeHtml(k) + "'>" + escapeHtml(L10N.key_groups[k] || k) + "</span>";
      }).join(" ");
      li.innerHTML = "<b>" + escapeHtml(h.address || h.code) + "</b> " + badges +
        "<br><span class='status " + h.status + "'>" + L10N[h.status] + "</span> · " + L10N.due_by + " " + h.next_due +
        " · " + L10N.last + ": " + (h.last_visit ? h.last_visit.slice(0, 10) : L10N.never) +
        (h.awaiting_review ? " · <span class='awaiting'>" + h.awaiting_review + " " + L10N.awaiting + "</span>" : "") +
        "<br><button type='button' class='log'>" + L10N.log + "</button>";
      li.querySelector(".log").addEventListener("click", function () { openForm(h); });
      ul.appendChild(li);
    });
    route();
    drawMap();
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
  }

  // Nearest-neighbour walk through what is due, from the first overdue household.
  function route() {
    var todo = households.filter(function (h) { return h.status !== "done"; });
    var ol = document.getElementById("route");
    ol.innerHTML = "";
    if (!todo.length) { return; }
    var order = [todo.shift()];
    while (todo.length) {
      var last = order[order.length - 1], best = 0, bestD = Infinity;
      todo.forEach(function (h, i) {
        var d = Math.pow(h.lon - last.lon, 2) + Math.pow((h.lat - last.lat) * 1.08, 2);
        if (d < bestD) { bestD = d; best = i; }
      });
      order.push(todo.splice(best, 1)[0]);
    }
    order.forEach(function (h) { var li = document.createElement("li"); li.textContent = h.address || h.code; ol.appendChild(li); });
  }

  var map = null, markers = null;
  function drawMap() {
    if (typeof L === "undefined" || !households.length) { return; }
    if (!map) { map = L.map("visits-map", { zoomControl: false }); }
    if (markers) { map.removeLayer(markers); }
    var colours = { overdue: "#d50000", due_soon: "#ff6d00", due: "#ffd600", done: "#2e7d32" };
    markers = L.featureGroup(households.map(function (h) {
      return L.circleMarker([h.lat, h.lon], { radius: 7, color: colours[h.status], fillOpacity: 0.8 }).bindTooltip(h.address || h.code);
    })).addTo(map);
    map.fitBounds(markers.getBounds().pad(0.3));
  }

  function openForm(h) {
    current = h;
    form.reset();
    document.getElementById("visit-household").textContent = h.address || h.code;
    document.getElementById("visit-form-status").textContent = "";
    form.hidden = false;
    form.scrollIntoView();
  }
  document.getElementById("visit-cancel").addEventListener("click", function () { form.hidden = true; });

  function fix() {
    return new Promise(function (resolve, reject) {
      if (!navigator.geolocation) { reject(new Error("no geolocation")); return; }
      navigator.geolocation.getCurrentPosition(resolve, reject, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var data = new FormData(form);
    var visit = {
      id: crypto.randomUUID(), household: current.code, address: current.address || "", channel: data.get("channel"),
      device_time: new Date().toISOString(), notes: data.get("notes") || "",
      findings: data.getAll("findings"), issue_ref: data.get("report") ? crypto.randomUUID() : null
    };
    var status = document.getElementById("visit-form-status");
    var located = visit.channel === "phone" ? Promise.resolve(null) : (status.textContent = L10N.locating, fix());
    var photo = smaller(data.get("photo"));
    located.then(function (pos) {
      if (pos) { visit.lat = pos.coords.latitude; visit.lon = pos.coords.longitude; visit.accuracy = pos.coords.accuracy; }
      return photo;
    }).then(function (blob) {
      if (blob) { visit.photo = blob; }
      return enqueue(visit);
    }).then(function () {
      status.textContent = L10N.saved;
      form.hidden = true;
      current.status = "done";
      current.last_visit = visit.device_time;
      var h = current;
      render();
      var sent = sync();
      if (visit.issue_ref) { sent.then(function () { reportFrom(visit, h); }); }
      return sent;
    }).catch(function () { status.textContent = L10N.no_fix; });
  });

  // "Report an issue from this visit": the issue form, opened with the id the visit carries (the two are
  // linked whichever reaches the server first) and the household's place. With no signal, a link to it.
  function reportFrom(visit, h) {
    var q = new URLSearchParams({ uuid: visit.issue_ref, lon: h.lon, lat: h.lat, address: h.address || "" });
    var url = app.dataset.report + "?" + q.toString();
    if (navigator.onLine) { window.location.assign(url); return; }
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = url;
    a.textContent = L10N.report_now + ": " + (h.address || h.code);
    li.appendChild(a);
    document.getElementById("refused").appendChild(li);
  }

  function load() {
    return fetch(app.dataset.api, { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (data) { households = data.households; render(); app.dataset.loaded = "1"; })
      .catch(function () { app.dataset.loaded = "1"; });
  }

  window.addEventListener("online", sync);
  window.addEventListener("offline", showStatus);
  if ("serviceWorker" in navigator) { navigator.serviceWorker.register(app.dataset.sw); }
  load().then(sync);
  window.gridgovVisits = { sync: sync, queued: queued };
})();
