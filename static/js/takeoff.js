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

  /* Continuous forms: the five percentiles as handles on the question's range, to drag or move
     with the arrow keys; each handle writes its own input (and follows what is typed there). A
     handle not moved or typed stays grey and its input empty, so nothing is chosen for you.
     Locations follow docs/methods.md §12.1 (linear, or logarithmic through the zero point). */
  var LEVELS = ["5th", "25th", "50th", "75th", "95th"];

  function scaleOf(box) {
    var lo = parseFloat(box.dataset.rangeMin), hi = parseFloat(box.dataset.rangeMax);
    var z = box.dataset.zeroPoint === "" ? null : parseFloat(box.dataset.zeroPoint);
    var k = z === null ? 0 : Math.log((hi - z) / (lo - z));
    return {
      date: box.dataset.kind === "date",
      loc: function (v) {
        return k === 0 ? (v - lo) / (hi - lo) : Math.log1p((v - lo) / (hi - lo) * Math.expm1(k)) / k;
      },
      value: function (x) {
        return k === 0 ? lo + (hi - lo) * x : lo + (hi - lo) * Math.expm1(k * x) / Math.expm1(k);
      }
    };
  }

  function parseValue(text, scale) {
    text = (text || "").trim();
    if (!text) return NaN;
    if (scale.date) return Date.parse(text + "T00:00:00Z") / 1000;
    text = text.replace(/[\s_\u202f]/g, "");
    if (/^[-+]?\d{1,3}(,\d{3})+(\.\d*)?$/.test(text)) text = text.replace(/,/g, "");
    else if ((text.match(/,/g) || []).length === 1 && text.indexOf(".") === -1) text = text.replace(",", ".");
    return parseFloat(text);
  }

  function formatValue(v, scale) {
    if (scale.date) return new Date(v * 1000).toISOString().slice(0, 10);
    return String(parseFloat(v.toPrecision(4)));
  }

  function wirePercentileDrag(root) {
    root.querySelectorAll("[data-pct-drag]").forEach(function (box) {
      if (box.dataset.wired) return;
      var form = box.closest("form");
      var inputs = form ? form.querySelectorAll("input[data-percentile]") : [];
      if (inputs.length !== 5) return;
      box.dataset.wired = "1";
      var scale = scaleOf(box);
      var W = 320, L = 14, R = 306, Y = 30;
      var svg = document.createElementNS(SVG_NS, "svg");
      svg.setAttribute("viewBox", "0 0 " + W + " 56");
      svg.setAttribute("class", "pct-drag-svg");
      svg.setAttribute("aria-label", "Drag the percentiles along the range, or focus one and use the arrow keys");
      svg.setAttribute("role", "group");
      var track = document.createElementNS(SVG_NS, "line");
      track.setAttribute("class", "pct-track");
      track.setAttribute("x1", L); track.setAttribute("x2", R);
      track.setAttribute("y1", Y); track.setAttribute("y2", Y);
      svg.appendChild(track);
      var ends = [[L, "start", scale.value(0)], [R, "end", scale.value(1)]];
      ends.forEach(function (e) {
        var t = document.createElementNS(SVG_NS, "text");
        t.setAttribute("class", "pct-end"); t.setAttribute("x", e[0]); t.setAttribute("y", 52);
        t.setAttribute("text-anchor", e[1]); t.textContent = formatValue(e[2], scale);
        svg.appendChild(t);
      });
      var defaults = [0.1, 0.3, 0.5, 0.7, 0.9];
      var xs = [];
      var handles = Array.prototype.map.call(inputs, function (input, i) {
        var g = document.createElementNS(SVG_NS, "g");
        g.setAttribute("class", "pct-handle");
        g.setAttribute("tabindex", "0");
        g.setAttribute("role", "slider");
        g.setAttribute("aria-label", LEVELS[i] + " percentile handle");
        g.setAttribute("aria-valuemin", "0");
        g.setAttribute("aria-valuemax", "1000");
        var c = document.createElementNS(SVG_NS, "circle");
        c.setAttribute("r", "9"); c.setAttribute("cy", Y);
        var t = document.createElementNS(SVG_NS, "text");
        t.setAttribute("y", Y - 13); t.setAttribute("text-anchor", "middle");
        t.textContent = LEVELS[i].replace("th", "");
        g.appendChild(c); g.appendChild(t);
        svg.appendChild(g);
        return g;
      });
      function place(i, x, chosen) {
        xs[i] = Math.min(1, Math.max(0, x));
        var px = L + xs[i] * (R - L);
        handles[i].querySelector("circle").setAttribute("cx", px);
        handles[i].querySelector("text").setAttribute("x", px);
        handles[i].setAttribute("aria-valuenow", Math.round(xs[i] * 1000));
        handles[i].classList.toggle("unset", !chosen);
        handles[i].setAttribute("aria-valuetext", chosen ? inputs[i].value : "not chosen yet");
      }
      function fromInputs() {
        inputs.forEach(function (input, i) {
          var v = parseValue(input.value, scale);
          if (isNaN(v)) place(i, xs[i] === undefined ? defaults[i] : xs[i], false);
          else place(i, scale.loc(v), true);
        });
      }
      function moveTo(i, x) {
        // Kept strictly between its neighbours: percentiles must increase.
        var gap = 0.002;
        var lo = i > 0 ? xs[i - 1] + gap : 0.001, hi = i < 4 ? xs[i + 1] - gap : 0.999;
        if (i > 0 && !handles[i - 1].classList.contains("unset") || i === 0) x = Math.max(x, lo);
        if (i < 4 && !handles[i + 1].classList.contains("unset") || i === 4) x = Math.min(x, hi);
        inputs[i].value = formatValue(scale.value(Math.min(0.999, Math.max(0.001, x))), scale);
        place(i, scale.loc(parseValue(inputs[i].value, scale)), true);
      }
      var dragging = -1;
      function pointerX(event) {
        var ctm = svg.getScreenCTM();
        var pt = svg.createSVGPoint(); pt.x = event.clientX; pt.y = event.clientY;
        return (pt.matrixTransform(ctm.inverse()).x - L) / (R - L);
      }
      handles.forEach(function (g, i) {
        g.addEventListener("pointerdown", function (event) {
          dragging = i; g.setPointerCapture(event.pointerId); event.preventDefault(); g.focus();
        });
        g.addEventListener("pointermove", function (event) { if (dragging === i) moveTo(i, pointerX(event)); });
        g.addEventListener("pointerup", function () { dragging = -1; });
        g.addEventListener("keydown", function (event) {
          var step = { ArrowLeft: -0.005, ArrowDown: -0.005, ArrowRight: 0.005, ArrowUp: 0.005, PageDown: -0.05, PageUp: 0.05 }[event.key];
          if (!step) return;
          event.preventDefault();
          moveTo(i, xs[i] + step);
        });
      });
      inputs.forEach(function (input) { input.addEventListener("input", fromInputs); });
      box.appendChild(svg);
      var help = document.createElement("p");
      help.className = "help";
      help.textContent = "Drag the handles (or focus one and use the arrow keys) to set your percentiles; grey ones are not chosen yet.";
      box.appendChild(help);
      box.hidden = false;
      fromInputs();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wirePercentileDrag(document);
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
