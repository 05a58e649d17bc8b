/* Takeoff progressive enhancement: a slider beside the percent input, forecast forms that
   submit without a page reload, times in the viewer's time zone. Without JavaScript both forms
   still work as plain POSTs and times stay in UTC. */
(function () {
  "use strict";

  function wireSliders(root) {
    root.querySelectorAll("input[data-range-for]").forEach(function (range) {
      var number = document.getElementById(range.dataset.rangeFor);
      if (!number || range.dataset.wired) return;
      range.dataset.wired = "1";
      range.hidden = false;
      if (number.value) range.value = number.value;
      // A first forecast starts with no value: the slider sits in the middle but means nothing
      // until it is moved (or a number typed); the submit button waits for a value.
      var submit = number.form && number.form.querySelector("button[data-needs-value]");
      function chosen() {
        range.classList.remove("prob-unset");
        range.removeAttribute("aria-valuetext");
        if (submit) submit.disabled = !number.value;
      }
      if (submit) submit.disabled = !number.value;
      range.addEventListener("input", function () { number.value = range.value; chosen(); });
      number.addEventListener("input", function () {
        var v = parseFloat(number.value.replace(",", "."));
        if (!isNaN(v)) range.value = Math.min(99.9, Math.max(0.1, v));
        chosen();
      });
    });
  }

  /* Times: the page says UTC (text and title); show the viewer's local time instead and keep
     the UTC text as the title, for <time data-local="datetime|date"> from the `when` filter. */
  var localFormats = {
    datetime: { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" },
    date: { day: "numeric", month: "short", year: "numeric" }
  };

  function localTimes(root) {
    if (!window.Intl || !Intl.DateTimeFormat) return;
    root.querySelectorAll("time[data-local][datetime]").forEach(function (el) {
      if (el.dataset.localized) return;
      var options = localFormats[el.dataset.local];
      var instant = new Date(el.getAttribute("datetime"));
      if (!options || isNaN(instant.getTime())) return;
      try {
        el.textContent = new Intl.DateTimeFormat(undefined, options).format(instant);
        el.dataset.localized = "1";
      } catch (e) { /* an old browser without these options: the UTC text stays */ }
    });
  }

  function announce(text, kind) {
    var box = document.getElementById("messages");
    if (!box) return;
    box.innerHTML = "";
    var p = document.createElement("p");
    p.className = "alert alert-" + (kind || "info");
    p.textContent = text;
    box.appendChild(p);
  }

  function swap(fragments) {
    var focusedId = document.activeElement && document.activeElement.id;
    Object.keys(fragments).forEach(function (name) {
      var el = document.getElementById("q-" + name);
      if (el) el.outerHTML = fragments[name];
    });
    wireSliders(document);
    localTimes(document);
    var again = focusedId && document.getElementById(focusedId);
    (again || document.getElementById("panel-heading") || document.body).focus({ preventScroll: true });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-async]") || !window.fetch) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    var label = button && button.textContent;
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
    }
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") !== -1;
      if (!json) {
        throw new Error(response.status === 403
          ? "This form has expired (its security token is missing or stale). Reload the page and try again: nothing was saved."
          : "The server could not save your forecast (" + response.status + "). Please try again.");
      }
      return response.json().then(function (data) {
        if (data.ok) {
          swap(data.fragments || {});
          announce(data.message, "success");
          document.dispatchEvent(new CustomEvent("takeoff:forecast", { detail: data }));
        } else if (data.login_url) {
          window.location.assign(data.login_url);
        } else {
          announce(data.error || "Your forecast was not saved.", "error");
        }
      });
    }).catch(function (err) {
      announce(err.message || "Network error: your forecast was not saved.", "error");
    }).finally(function () {
      if (button && document.body.contains(button)) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        button.textContent = label;
      }
    });
  });

  /* Chart read-out: the crowd value at the pointer, or at the point chosen with the arrow keys
     (Home/End for the first/last) once the chart has focus. The points come from the chart's
     data-series attribute ("x y label" triples); a live region repeats the value for screen
     readers. Without the script the chart still names its latest value and has a table. */
  var SVG_NS = "http://www.w3.org/2000/svg";

  function chartPoints(svg) {
    if (!svg._points) {
      svg._points = svg.dataset.series.split(";").map(function (item) {
        var parts = item.split(" ");
        return { x: parseFloat(parts[0]), y: parseFloat(parts[1]), label: parts.slice(2).join(" ") };
      });
    }
    return svg._points;
  }

  function readoutLayer(svg) {
    var g = svg.querySelector("g.readout");
    if (g) return g;
    g = document.createElementNS(SVG_NS, "g");
    g.setAttribute("class", "readout");
    g.setAttribute("aria-hidden", "true");
    ["line", "circle", "text"].forEach(function (tag) {
      var el = document.createElementNS(SVG_NS, tag);
      el.setAttribute("class", "readout-" + (tag === "circle" ? "dot" : tag));
      if (tag === "circle") el.setAttribute("r", "5");
      g.appendChild(el);
    });
    svg.appendChild(g);
    return g;
  }

  function showPoint(svg, index) {
    var pts = chartPoints(svg);
    if (!pts.length) return;
    index = Math.max(0, Math.min(pts.length - 1, index));
    svg._index = index;
    var p = pts[index];
    var box = svg.viewBox.baseVal;
    var g = readoutLayer(svg);
    var line = g.querySelector("line"), dot = g.querySelector("circle"), text = g.querySelector("text");
    line.setAttribute("x1", p.x); line.setAttribute("x2", p.x);
    line.setAttribute("y1", 0); line.setAttribute("y2", box.height - 34);
    dot.setAttribute("cx", p.x); dot.setAttribute("cy", p.y);
    text.textContent = p.label;
    var right = p.x > box.width / 2;
    text.setAttribute("x", right ? p.x - 8 : p.x + 8);
    text.setAttribute("text-anchor", right ? "end" : "start");
    text.setAttribute("y", p.y < 40 ? p.y + 20 : p.y - 10);
    g.style.display = "";
    var live = document.getElementById("chart-live");
    if (live) live.textContent = p.label;
  }

  function hideReadout(svg) {
    var g = svg.querySelector("g.readout");
    if (g) g.style.display = "none";
  }

  function nearest(svg, clientX) {
    var ctm = svg.getScreenCTM();
    if (!ctm) return -1;
    var pt = svg.createSVGPoint();
    pt.x = clientX; pt.y = 0;
    var x = pt.matrixTransform(ctm.inverse()).x;
    var pts = chartPoints(svg), best = -1;
    // The value in force at x: the last point at or before it (a step line).
    for (var i = 0; i < pts.length; i++) {
      if (pts[i].x <= x) best = i; else break;
    }
    return best;
  }

  function seriesChart(target) {
    return target && target.closest ? target.closest("svg.chart[data-series]") : null;
  }

  document.addEventListener("pointermove", function (event) {
    var svg = seriesChart(event.target);
    if (!svg) return;
    var i = nearest(svg, event.clientX);
    if (i < 0) hideReadout(svg); else showPoint(svg, i);
  });
  document.addEventListener("pointerout", function (event) {
    var svg = seriesChart(event.target);
    if (svg && !svg.contains(event.relatedTarget) && document.activeElement !== svg) hideReadout(svg);
  });
  document.addEventListener("focusin", function (event) {
    var svg = seriesChart(event.target);
    if (svg) showPoint(svg, chartPoints(svg).length - 1);
  });
  document.addEventListener("focusout", function (event) {
    var svg = seriesChart(event.target);
    if (svg) hideReadout(svg);
  });
  document.addEventListener("keydown", function (event) {
    var svg = seriesChart(event.target);
    if (!svg) return;
    var n = chartPoints(svg).length, i = svg._index === undefined ? n - 1 : svg._index;
    var step = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -1, ArrowUp: 1 }[event.key];
    if (step) i += step;
    else if (event.key === "Home") i = 0;
    else if (event.key === "End") i = n - 1;
    else return;
    event.preventDefault();
    showPoint(svg, i);
  });

  /* Copy buttons: <button data-copy="ID" hidden> copies the text of the element #ID. Shown only
     when this script runs; the text stays selectable without it. */
  function wireCopyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.dataset.copy);
      if (!source || button.dataset.wired) return;
      button.dataset.wired = "1";
      button.hidden = false;
      var label = button.textContent;
      button.addEventListener("click", function () {
        var text = source.textContent;
        var done = function (ok) {
          button.textContent = ok ? "Copied" : "Press Ctrl+C to copy";
          setTimeout(function () { button.textContent = label; }, 2000);
        };
        var selectSource = function () {
          var range = document.createRange();
          range.selectNodeContents(source);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          var ok = false;
          try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
          done(ok);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, selectSource);
        } else {
          selectSource();
        }
      });
    });
  }

  /* Multiple choice: a running total under the option inputs (the server checks it too and
     says the same; without the script the message comes after submitting). */
  function wireOptionTotals(root) {
    root.querySelectorAll("form.typed-form").forEach(function (form) {
      var inputs = form.querySelectorAll("input[data-mc-option]");
      var out = form.querySelector("[data-mc-total]");
      var scale = form.querySelector("input[name=normalise]");
      if (!inputs.length || !out || form.dataset.totalWired) return;
      form.dataset.totalWired = "1";
      function update() {
        var total = 0, filled = 0;
        inputs.forEach(function (input) {
          var v = parseFloat(input.value.replace(",", "."));
          if (!isNaN(v)) { total += v; filled += 1; }
        });
        out.hidden = filled === 0;
        var rounded = Math.round(total * 1000) / 1000;
        var off = Math.abs(total - 100) > 0.01;
        out.classList.toggle("off", off && !(scale && scale.checked));
        if (!off) out.textContent = "Total: 100%.";
        else if (scale && scale.checked) out.textContent = "Total: " + rounded + "%; it will be scaled to 100%.";
        else out.textContent = "Total: " + rounded + "%, not 100%: change the numbers or tick the box below.";
      }
      inputs.forEach(function (input) { input.addEventListener("input", update); });
      if (scale) scale.addEventListener("change", update);
      update();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireOptionTotals(document);
    wireSliders(document);
    localTimes(document);
    wireCopyButtons(document);
    if (document.querySelector("svg.chart[data-series]") && !document.getElementById("chart-live")) {
      var live = document.createElement("p");
      live.id = "chart-live";
      live.className = "visually-hidden";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
  });
})();
