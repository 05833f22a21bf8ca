/* gridgov issue pages: maps (list markers by traffic light, one case's point, a location picker),
   the console's "tick all", photo upload through the API, and the monitoring page's refresh.
   Nothing loads from outside the server: Leaflet is served locally, the basemap only if configured. */
(function () {
  "use strict";
  var COLORS = { green: "#2e7d32", yellow: "#f9a825", red: "#c62828", "": "#607d8b" };

  function escapeHtml(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function jsonOf(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function baseMap(el) {
    var c = (el.dataset.center || "22.58,114.26").split(",").map(Number);
    var map = L.map(el, { maxZoom: 19 }).setView(c, 13);
    // The container can change size without a window resize (a scrollbar appears, a panel opens).
    if (window.ResizeObserver) {
      new ResizeObserver(function () { map.invalidateSize(false); }).observe(el);
    }
    if (el.dataset.basemap) {
      L.tileLayer(el.dataset.basemap, { attribution: el.dataset.attribution || "", maxZoom: 19 }).addTo(map);
    }
    return map;
  }

  // Community outlines (public, simplified) so that a point can be placed without a basemap.
  function outlines(map, url, interactive) {
    if (!url) { return Promise.resolve(null); }
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fc) {
        if (!fc || !fc.features || !fc.features.length) { return null; }
        var layer = L.geoJSON(fc, {
          interactive: interactive,
          style: function () { return { color: "#2e7d32", weight: 1.2, fillOpacity: 0.04, interactive: interactive }; },
          onEachFeature: function (f, l) {
            if (interactive) { l.bindTooltip(escapeHtml(f.properties.name), { sticky: true }); }
          }
        }).addTo(map);
        layer.bringToBack();
        return layer;
      })
      .catch(function () { return null; });
  }

  function dot(latlng, light, radius) {
    return L.circleMarker(latlng, {
      radius: radius || 8, color: "#222", weight: 1, fillColor: COLORS[light || ""] || COLORS[""], fillOpacity: 0.9
    });
  }

  function listMap(el) {
    var map = baseMap(el);
    var points = jsonOf("case-points") || [];
    var group = L.featureGroup();
    points.forEach(function (p) {
      var m = dot([p.y, p.x], p.light);
      m.bindPopup("<a href='" + escapeHtml(p.url) + "'>" + escapeHtml(p.title) + "</a>");
      m.bindTooltip(escapeHtml(p.ref));
      group.addLayer(m);
    });
    group.addTo(map);
    outlines(map, el.dataset.outlines, true).then(function (layer) {
      if (points.length) { map.fitBounds(group.getBounds(), { maxZoom: 16, padding: [20, 20], animate: false }); }
      else if (layer) { map.fitBounds(layer.getBounds(), { animate: false }); }
      el.dataset.ready = "1";
    });
    return map;
  }

  function pointMap(el) {
    var map = baseMap(el);
    var p = jsonOf("case-point");
    dot([p.y, p.x], p.light, 10).addTo(map);
    map.setView([p.y, p.x], 16);
    outlines(map, el.dataset.outlines, true).then(function () { el.dataset.ready = "1"; });
    return map;
  }

  // Click on the map (or type the coordinates, or use the phone's position) to place the report.
  function pickerMap(el) {
    var map = baseMap(el);
    var lon = document.getElementById(el.dataset.lon);
    var lat = document.getElementById(el.dataset.lat);
    var marker = null;
    function place(latlng, pan) {
      if (marker) { marker.setLatLng(latlng); } else { marker = dot(latlng, "", 10).addTo(map); }
      if (pan) { map.panTo(latlng); }
    }
    function fromInputs() {
      var x = parseFloat(lon.value), y = parseFloat(lat.value);
      if (isFinite(x) && isFinite(y)) { place([y, x], true); return true; }
      return false;
    }
    map.on("click", function (e) {
      lon.value = e.latlng.lng.toFixed(6);
      lat.value = e.latlng.lat.toFixed(6);
      place(e.latlng, false);
      el.dataset.picked = "1";
    });
    lon.addEventListener("change", fromInputs);
    lat.addEventListener("change", fromInputs);
    var had = fromInputs();
    outlines(map, el.dataset.outlines, false).then(function (layer) {
      if (!had && layer) { map.fitBounds(layer.getBounds(), { animate: false }); }
      el.dataset.ready = "1";
    });
    var locate = document.getElementById("locate-me");
    if (locate && navigator.geolocation) {
      locate.hidden = false;
      locate.addEventListener("click", function () {
        navigator.geolocation.getCurrentPosition(function (pos) {
          lon.value = pos.coords.longitude.toFixed(6);
          lat.value = pos.coords.latitude.toFixed(6);
          place([pos.coords.latitude, pos.coords.longitude], true);
          map.setZoom(17);
        }, function () { locate.disabled = true; }, { enableHighAccuracy: true, timeout: 15000 });
      });
    }
    return map;
  }

  document.querySelectorAll(".case-map").forEach(function (el) {
    var mode = el.dataset.mode;
    var map = mode === "list" ? listMap(el) : mode === "point" ? pointMap(el) : pickerMap(el);
    window.gridgovCaseMap = map;
  });

  // Console: tick every row at once.
  var all = document.getElementById("tick-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=cases]").forEach(function (box) { box.checked = all.checked; });
    });
  }

  // Photos go through the API (the same checks on type and size as every other client).
  var photo = document.getElementById("photo-form");
  if (photo) {
    photo.addEventListener("submit", function (e) {
      e.preventDefault();
      var out = document.getElementById("photo-error");
      out.textContent = "";
      fetch(photo.action, {
        method: "POST", credentials: "same-origin", body: new FormData(photo),
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" }
      }).then(function (r) {
        if (r.ok) { window.location.reload(); return null; }
        return r.json().then(function (body) {
          out.textContent = (body.photo || [body.detail || r.status]).join(" ");
        });
      }).catch(function (err) { out.textContent = String(err); });
    });
  }

  // Monitoring: redraw the counts from the API every minute.
  var monitor = document.getElementById("monitor");
  if (monitor) {
    var labels = jsonOf("monitor-labels");
    var setText = function (key, value) {
      var el = monitor.querySelector("[data-key='" + key + "']");
      if (el) { el.textContent = value; }
    };
    var table = function (key, rows) {
      var tb = monitor.querySelector("tbody[data-group='" + key + "']");
      if (!tb) { return; }
      tb.innerHTML = rows.length ? "" : "<tr><td colspan='2'>" + escapeHtml(labels.none) + "</td></tr>";
      rows.forEach(function (r) {
        var tr = document.createElement("tr");
        tr.innerHTML = "<td></td><td class='num'></td>";
        tr.children[0].textContent = r[0];
        tr.children[1].textContent = r[1];
        tb.appendChild(tr);
      });
    };
    var refresh = function () {
      fetch(monitor.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (d) {
          ["open", "red", "yellow", "supervised", "closed", "returned"].forEach(function (k) { setText(k, d[k]); });
          setText("on_time_rate", d.on_time_rate === null ? "—" : Math.round(100 * d.on_time_rate) + "%");
          setText("satisfaction", d.satisfaction === null ? "—" : Number(d.satisfaction).toFixed(1));
          table("by_state", d.by_state.map(function (r) {
            return [(labels.english && r.state__name_en) || r.state__name, r.n];
          }));
          table("by_level", d.by_level.map(function (r) { return [labels.levels[String(r.level)] || r.level, r.n]; }));
          table("by_category", d.by_category.map(function (r) {
            return [labels.categories[r.top] || (labels.english && r.name_en) || r.name || r.top, r.n];
          }));
          table("by_department", d.by_department.map(function (r) {
            return [r.lead_department__name || labels.no_department, r.n];
          }));
          document.getElementById("monitor-status").textContent =
            labels.updated + " " + new Date().toLocaleTimeString();
          monitor.dataset.refreshed = String(Number(monitor.dataset.refreshed || 0) + 1);
        })
        .catch(function () { document.getElementById("monitor-status").textContent = labels.failed; });
    };
    window.gridgovMonitorRefresh = refresh;
    setInterval(refresh, Number(monitor.dataset.every || 60) * 1000);
  }
})();

/* Report forms send once: the hidden id already makes a repeat harmless; this only spares the wait. */
document.querySelectorAll(".report-form").forEach(function (form) {
  form.addEventListener("submit", function (e) {
    var b = e.target.querySelector("button[type=submit]");
    setTimeout(function () { b.disabled = true; }, 0);
  });
});
