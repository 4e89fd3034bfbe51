// 乡音工作台: the few things that need a script (no inline scripts: the page's CSP forbids them).
(function () {
  "use strict";
  var SOUND_KEY = "xiangyin-console-sound";
  var audio = null;

  function soundOn() { return window.localStorage.getItem(SOUND_KEY) === "on"; }

  function showSoundButton() {
    var button = document.getElementById("sound-toggle");
    if (!button) { return; }
    button.setAttribute("aria-pressed", soundOn() ? "true" : "false");
    button.textContent = soundOn() ? "提示音：开" : "开启提示音";
  }

  // A two-tone chime made by the browser itself (nothing to download).
  function chime() {
    if (!soundOn()) { return; }
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [880, 660, 880].forEach(function (freq, i) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.frequency.value = freq;
        osc.connect(gain);
        gain.connect(audio.destination);
        var start = audio.currentTime + i * 0.35;
        gain.gain.setValueAtTime(0.25, start);
        gain.gain.exponentialRampToValueAtTime(0.001, start + 0.3);
        osc.start(start);
        osc.stop(start + 0.32);
      });
    } catch (e) { /* no audio on this machine: the red panel still shows it */ }
  }

  function ringIfWaiting() {
    var panel = document.getElementById("emergency-panel");
    if (panel && parseInt(panel.getAttribute("data-waiting") || "0", 10) > 0) { chime(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    showSoundButton();
    var button = document.getElementById("sound-toggle");
    if (button) {
      button.addEventListener("click", function () {
        window.localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
        showSoundButton();
        if (soundOn()) { chime(); }
      });
    }
    ringIfWaiting();

    // Reply templates: a button fills the text box it names.
    document.body.addEventListener("click", function (event) {
      var target = event.target.closest("[data-fill]");
      if (!target) { return; }
      var box = document.getElementById(target.getAttribute("data-fill"));
      if (box) { box.value = target.getAttribute("data-text"); box.focus(); }
    });

    // Print button on notice pages.
    document.body.addEventListener("click", function (event) {
      if (event.target.closest("[data-print]")) { window.print(); }
    });
  });

  // The live emergency panel: do not replace it while someone is typing in it; ring after a refresh.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var panel = document.getElementById("emergency-panel");
    if (panel && event.detail.elt === panel && panel.contains(document.activeElement)) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:afterSettle", function () { ringIfWaiting(); });
})();
