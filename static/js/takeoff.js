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

  document.addEventListener("DOMContentLoaded", function () {
    wireSliders(document);
    localTimes(document);
  });
})();
