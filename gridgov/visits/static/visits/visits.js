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

  // --- the queue on the phone (visits/phone.js: this user's items only) ----------------------------
  var phone = window.gridgovPhone;
  var LOCAL = ["photo", "user", "state", "errors", "address"];  // kept on the phone, not sent
  function mine() { return phone.items(); }
  function queued() { return mine().then(function (all) { return all.filter(function (v) { return v.state !== "refused"; }); }); }
  function enqueue(v) { v.state = "queued"; delete v.errors; return phone.put(v); }
  function dequeue(ids) { return phone.remove(ids); }

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
    if (syncing || !navigator.onLine || app.dataset.stale) { return showStatus(); }
    syncing = true;
    return queued().then(function (items) {
      if (!items.length) { return null; }
      var bare = items.map(function (v) {  // the photo goes on its own once the visit is stored
        var copy = {}; Object.keys(v).forEach(function (k) { if (LOCAL.indexOf(k) < 0) { copy[k] = v[k]; } }); return copy;
      });
      return fetch(app.dataset.sync, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ visits: bare })
      }).then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); }).then(function (out) {
        var done = [], uploads = [];
        var refused = [];
        out.results.forEach(function (res, i) {
          var item = items[res.index !== undefined ? res.index : i];
          if (res.status === "error") {  // kept on the phone with the server's reasons, to correct and resend
            item.state = "refused";
            item.errors = res.errors || {};
            refused.push(phone.put(item));
            return;
          }
          if (item.photo) { uploads.push(sendPhoto(item)); return; }
          done.push(item.id);  // sent: stored or already stored
        });
        return Promise.all(refused).then(function () { return Promise.all(uploads); }).then(function (sent) {
          return dequeue(done.concat(sent.filter(Boolean)));
        }).then(load);
      });
    }).catch(function () { /* no signal after all: keep the queue */ }).then(function () {
      syncing = false;
      return Promise.all([showStatus(), showRefused()]).then(function (r) { return r[0]; });
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

  // Visits the server refused stay on the phone, with its reasons (in the user's language at the time),
  // until the member corrects and resends them or discards them.
  function showRefused() {
    return mine().then(function (all) {
      var ul = document.getElementById("refused");
      Array.prototype.slice.call(ul.querySelectorAll("li.refused-visit")).forEach(function (li) { li.remove(); });
      all.filter(function (v) { return v.state === "refused"; }).forEach(function (v) {
        var li = document.createElement("li");
        li.className = "refused-visit";
        li.dataset.id = v.id;
        var said = document.createElement("span");
        said.className = "said";
        said.textContent = L10N.error + " " + (v.address || v.household) + " (" + v.device_time.slice(0, 10) + "): " + reasons(v.errors).join(" ");
        var resend = document.createElement("button");
        resend.type = "button"; resend.className = "resend"; resend.textContent = L10N.resend;
        resend.addEventListener("click", function () { editRefused(v); });
        var discard = document.createElement("button");
        discard.type = "button"; discard.className = "discard"; discard.textContent = L10N.discard;
        discard.addEventListener("click", function () { dequeue([v.id]).then(showRefused); });
        li.appendChild(said); li.appendChild(document.createTextNode(" ")); li.appendChild(resend);
        li.appendChild(document.createTextNode(" ")); li.appendChild(discard);
        ul.insertBefore(li, ul.firstChild);
      });
      return all;
    });
  }
  function reasons(errors) {  // the server's messages (translated), not its JSON
    var said = [];
    Object.keys(errors || {}).forEach(function (k) { said = said.concat(errors[k]); });
    return said;
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

  var editing = null;  // a refused visit being corrected: resent with its id, time and photo
  function openForm(h, item) {
    current = h;
    editing = item || null;
    form.reset();
    document.getElementById("visit-household").textContent = h.address || h.code;
    document.getElementById("visit-form-status").textContent = item ? reasons(item.errors).join(" ") + " " + L10N.fix_and_resend : "";
    if (item) {
      form.querySelectorAll("input[name=channel]").forEach(function (el) { el.checked = el.value === item.channel; });
      form.querySelectorAll("input[name=findings]").forEach(function (el) { el.checked = (item.findings || []).indexOf(el.value) >= 0; });
      form.elements.notes.value = item.notes || "";
      form.elements.report.checked = !!item.issue_ref;
    }
    form.hidden = false;
    form.scrollIntoView();
  }
  function editRefused(item) {
    var h = households.filter(function (x) { return x.code === item.household; })[0];
    openForm(h || { code: item.household, address: item.address }, item);
  }
  document.getElementById("visit-cancel").addEventListener("click", function () { form.hidden = true; editing = null; });

  function fix() {
    return new Promise(function (resolve, reject) {
      if (!navigator.geolocation) { reject(new Error("no geolocation")); return; }
      navigator.geolocation.getCurrentPosition(resolve, reject, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var data = new FormData(form);
    var was = editing;
    var visit = {
      id: was ? was.id : crypto.randomUUID(), household: current.code, address: current.address || "", channel: data.get("channel"),
      // a corrected visit keeps the time it was made, unless that time is what the server refused
      device_time: was && !(was.errors || {}).device_time ? was.device_time : new Date().toISOString(),
      notes: data.get("notes") || "", findings: data.getAll("findings"),
      issue_ref: data.get("report") ? (was && was.issue_ref) || crypto.randomUUID() : null
    };
    var status = document.getElementById("visit-form-status");
    var located = visit.channel === "phone" ? Promise.resolve(null) : (status.textContent = L10N.locating, fix());
    var photo = smaller(data.get("photo"));
    located.then(function (pos) {
      if (pos) { visit.lat = pos.coords.latitude; visit.lon = pos.coords.longitude; visit.accuracy = pos.coords.accuracy; }
      return photo;
    }).then(function (blob) {
      if (blob) { visit.photo = blob; } else if (was && was.photo) { visit.photo = was.photo; }
      return enqueue(visit);
    }).then(function () {
      status.textContent = L10N.saved;
      form.hidden = true;
      editing = null;
      if (!current.key_groups) { showRefused(); return sync(); }  // a household no longer in the list
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

  // The household list, from the network or the worker's copy: shown only if it is this user's (a copy
  // left by another user on this phone is not; nor is this page sent anything if the session is another's).
  function load() {
    return fetch(app.dataset.api, { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (data) {
        if (String(data.user) !== phone.user) { households = []; app.dataset.stale = "1"; } else { households = data.households; }
        render(); app.dataset.loaded = "1";
      })
      .catch(function () { app.dataset.loaded = "1"; });
  }

  window.addEventListener("online", sync);
  window.addEventListener("offline", showStatus);
  if ("serviceWorker" in navigator) { navigator.serviceWorker.register(app.dataset.sw); }
  phone.ready.then(function (changed) {
    // another user's copy was just dropped: keep this user's page for offline use
    if (changed && navigator.onLine && typeof caches !== "undefined") {
      caches.open(phone.DATA_CACHE).then(function (c) { return c.add(location.pathname); }).catch(function () { return null; });
    }
    return load();
  }).then(showRefused).then(sync);
  window.gridgovVisits = { sync: sync, queued: queued, refused: showRefused };
})();
