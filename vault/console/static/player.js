// The review player: one <video> for the business window and the call's two channels, fed one
// segment at a time through Media Source Extensions (so an hour-long recording starts and seeks
// as fast as a short one), two waveform lanes from peaks the vault computes, per-lane
// mute/solo/volume through Web Audio, gap markers and time-anchored notes. No inline code: the
// console's CSP allows only this file.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("player-data").textContent);
  const video = document.getElementById("video");
  const seek = document.getElementById("seek");
  const position = document.getElementById("position");
  const playButton = document.getElementById("play");
  const root = document.getElementById("player");
  const lanes = ["agent", "caller"];
  const colours = { paused: "#b35900", covered: "#6a3fb5", "not-visible": "#444444",
                    withheld: "#8a6d00", missing: "#b00020" };
  const play = data.playback;
  const segmentSeconds = play.segment_seconds;
  const stored = new Set(play.segments);
  const lastSegment = Math.max(...play.segments);
  let peaks = null;
  let duration = 0;
  let loopA = null;
  let loopB = null;

  const clock = (s) => {
    s = Math.max(0, Math.floor(s || 0));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  };

  // ---- Web Audio: the left channel is the agent, the right the caller (docs/format.md).
  let audio = null;
  function audioGraph() {
    if (audio) return audio;
    const context = new AudioContext();
    const source = context.createMediaElementSource(video);
    const splitter = context.createChannelSplitter(2);
    const merger = context.createChannelMerger(2);
    source.connect(splitter);
    const nodes = {};
    lanes.forEach((lane, channel) => {
      const gain = context.createGain();
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      splitter.connect(gain, channel);
      gain.connect(analyser);
      gain.connect(merger, 0, channel);
      nodes[lane] = { gain, analyser, buffer: new Float32Array(analyser.fftSize) };
    });
    merger.connect(context.destination);
    audio = { context, nodes };
    applyMix();
    return audio;
  }

  function applyMix() {
    if (!audio) return;
    const soloed = lanes.filter((l) => document.getElementById("solo-" + l).checked);
    lanes.forEach((lane) => {
      const muted = document.getElementById("mute-" + lane).checked ||
        (soloed.length > 0 && !soloed.includes(lane));
      const volume = Number(document.getElementById("volume-" + lane).value);
      audio.nodes[lane].gain.gain.value = muted ? 0 : volume;
    });
  }

  function measureLevels() {
    if (audio) {
      lanes.forEach((lane) => {
        const node = audio.nodes[lane];
        node.analyser.getFloatTimeDomainData(node.buffer);
        let sum = 0;
        for (const v of node.buffer) sum += v * v;
        const rms = Math.sqrt(sum / node.buffer.length);
        document.getElementById("meter-" + lane).value = Math.min(1, rms * 4);
        root.dataset["level" + lane[0].toUpperCase() + lane.slice(1)] = rms.toFixed(5);
      });
    }
    if (loopA !== null && loopB !== null && video.currentTime >= loopB) {
      video.currentTime = loopA;
    }
    skipMissing();
    requestAnimationFrame(measureLevels);
  }

  // ---- Drawing: lanes from peaks, gap markers on a strip, the play head on both.
  function fit(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, canvas.clientWidth), height = Math.max(1, canvas.clientHeight);
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { g, width, height };
  }

  function drawLane(lane, index) {
    const { g, width, height } = fit(document.getElementById("lane-" + lane));
    g.clearRect(0, 0, width, height);
    g.fillStyle = "#f4f4f4";
    g.fillRect(0, 0, width, height);
    const values = peaks ? peaks[lane] : [];
    if (values.length && duration > 0) {
      g.fillStyle = index === 0 ? "#1f5fa8" : "#2e7d32";
      const perPixel = values.length / width;
      for (let x = 0; x < width; x++) {
        let top = 0;
        const from = Math.floor(x * perPixel), to = Math.max(from + 1, Math.floor((x + 1) * perPixel));
        for (let i = from; i < to && i < values.length; i++) top = Math.max(top, values[i]);
        const h = (top / 255) * (height - 2);
        g.fillRect(x, (height - h) / 2, 1, Math.max(1, h));
      }
    }
    playHead(g, width, height);
  }

  function drawMarkers() {
    const { g, width, height } = fit(document.getElementById("markers-strip"));
    g.clearRect(0, 0, width, height);
    if (duration <= 0) return;
    for (const m of data.markers) {
      g.fillStyle = colours[m.kind] || "#000";
      const x = (m.start / duration) * width;
      g.fillRect(x, 0, Math.max(2, ((m.end - m.start) / duration) * width), height);
    }
    playHead(g, width, height);
  }

  function playHead(g, width, height) {
    if (duration <= 0) return;
    g.fillStyle = "#d00000";
    g.fillRect((video.currentTime / duration) * width - 1, 0, 2, height);
  }

  function redraw() {
    lanes.forEach(drawLane);
    drawMarkers();
  }

  function showPosition() {
    const text = clock(video.currentTime) + " of " + clock(duration);
    position.value = clock(video.currentTime) + " / " + clock(duration);
    seek.value = video.currentTime;
    seek.setAttribute("aria-valuetext", text);
    document.getElementById("note-at").value = clock(video.currentTime);
  }

  function setDuration(seconds) {
    if (!isFinite(seconds) || seconds <= 0) return;
    duration = seconds;
    seek.max = seconds;
    showPosition();
    redraw();
  }

  // ---- Controls.
  function jump(to) {
    video.currentTime = Math.min(Math.max(0, to), duration || to);
  }

  function togglePlay() {
    audioGraph().context.resume();
    if (video.paused) video.play(); else video.pause();
  }

  function changeSpeed(step) {
    const select = document.getElementById("speed");
    const index = Math.min(select.options.length - 1, Math.max(0, select.selectedIndex + step));
    select.selectedIndex = index;
    select.dispatchEvent(new Event("change"));
  }

  function showLoop() {
    const text = loopA === null ? "No loop" :
      "Loop " + clock(loopA) + " to " + (loopB === null ? "…" : clock(loopB));
    document.getElementById("loop-state").value = text;
  }

  playButton.addEventListener("click", togglePlay);
  video.addEventListener("play", () => { playButton.textContent = "Pause"; });
  video.addEventListener("pause", () => { playButton.textContent = "Play"; });
  video.addEventListener("loadedmetadata", () => {
    setDuration(isFinite(video.duration) ? video.duration : play.duration_s);
    if (data.start > 0) jump(data.start);
  });
  video.addEventListener("timeupdate", () => { showPosition(); redraw(); });
  video.addEventListener("seeked", () => { showPosition(); redraw(); });
  seek.addEventListener("input", () => jump(Number(seek.value)));
  document.getElementById("back5").addEventListener("click", () => jump(video.currentTime - 5));
  document.getElementById("fwd5").addEventListener("click", () => jump(video.currentTime + 5));
  document.getElementById("speed").addEventListener("change", (e) => {
    video.preservesPitch = true;
    video.playbackRate = Number(e.target.value);
  });
  document.getElementById("loop-a").addEventListener("click", () => {
    loopA = video.currentTime; if (loopB !== null && loopB <= loopA) loopB = null; showLoop();
  });
  document.getElementById("loop-b").addEventListener("click", () => {
    if (loopA !== null && video.currentTime > loopA) loopB = video.currentTime; showLoop();
  });
  document.getElementById("loop-clear").addEventListener("click", () => {
    loopA = null; loopB = null; showLoop();
  });
  lanes.forEach((lane) => {
    ["mute-", "solo-", "volume-"].forEach((kind) => {
      document.getElementById(kind + lane).addEventListener("input", () => {
        audioGraph();
        applyMix();
      });
    });
  });
  document.addEventListener("click", (e) => {
    const target = e.target.closest(".seek-to, .note-time");
    if (!target) return;
    e.preventDefault();
    jump(Number(target.dataset.start));
    video.focus();
  });
  for (const id of ["lane-agent", "lane-caller", "markers-strip"]) {
    document.getElementById(id).addEventListener("click", (e) => {
      const box = e.target.getBoundingClientRect();
      jump(((e.clientX - box.left) / box.width) * duration);
    });
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = e.target.closest("input, textarea, select");
    if (typing && !(e.target === seek && e.key !== "ArrowLeft" && e.key !== "ArrowRight")) return;
    const actions = {
      " ": togglePlay, k: togglePlay,
      j: () => jump(video.currentTime - 5), l: () => jump(video.currentTime + 5),
      "[": () => document.getElementById("loop-a").click(),
      "]": () => document.getElementById("loop-b").click(),
      "\\": () => document.getElementById("loop-clear").click(),
      "<": () => changeSpeed(-1), ">": () => changeSpeed(1),
      n: () => document.getElementById("note-text").focus(),
    };
    const action = actions[e.key];
    if (!action || (e.target.tagName === "BUTTON" && e.key === " ")) return;
    e.preventDefault();
    action();
  });

  // ---- Notes: added where the video stands; the vault logs that one was added.
  document.getElementById("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const status = document.getElementById("note-status");
    const text = document.getElementById("note-text");
    const at = video.currentTime;
    const response = await fetch(data.notes, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ at_s: at, text: text.value }),
    });
    const body = await response.json();
    if (!response.ok) {
      status.textContent = "Not added: " + (body.message || response.status);
      return;
    }
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "/console/recordings/" + data.recording + "?t=" + body.at_s;
    link.className = "note-time";
    link.dataset.start = body.at_s;
    link.textContent = clock(body.at_s);
    const author = document.createElement("span");
    author.className = "note-author";
    author.textContent = body.author;
    const words = document.createElement("span");
    words.className = "note-text";
    words.textContent = body.text;
    item.append(link, " ", author, ": ", words);
    document.getElementById("note-list").append(item);
    text.value = "";
    status.textContent = "Note added at " + clock(body.at_s) + ".";
  });

  // ---- Media: the segments around the play head, fetched in order and appended to one
  // SourceBuffer; each carries its times from the recording's start, so it lands in place.
  // A segment may begin with frames that refer to the segment before: the browser decodes it
  // only after the segments back to its group's first, which opens with a keyframe. So a seek
  // fetches from there, and only whole groups are dropped behind the play head (removing a
  // keyframe removes every frame that refers to it).
  const AHEAD_S = 30, BEHIND_S = 60;
  const segmentAt = (t) => Math.max(0, Math.floor((t + 1e-3) / segmentSeconds));
  const keyframeEvery = Math.max(1, play.keyframe_every_segments || 1);
  const groupStart = (i) => i - (i % keyframeEvery);
  const appended = new Set();
  const failed = new Set();
  const decodable = (i) => {
    for (let j = groupStart(i); j <= i; j++) if (!stored.has(j) || failed.has(j)) return false;
    return true;
  };
  const nextDecodable = (i) => {
    for (let j = i; j <= lastSegment; j++) if (decodable(j)) return j;
    return null;
  };
  let source = null, buffer = null, pumping = false, initAppended = false;

  function whenIdle() {
    return buffer.updating
      ? new Promise((done) => buffer.addEventListener("updateend", done, { once: true }))
      : Promise.resolve();
  }

  function wanted() {
    const here = segmentAt(video.currentTime || data.start);
    const last = Math.min(lastSegment, segmentAt(video.currentTime + AHEAD_S));
    for (let i = groupStart(here); i <= Math.max(here, last); i++) {
      if (decodable(i) && !appended.has(i)) return i;
    }
    return null;
  }

  function mediaOnly(bytes) {
    // Every fragmented MP4 segment begins with its own initialization (ftyp, moov), all alike:
    // Chromium takes a new one as a cue to wait for a keyframe, and would drop a segment
    // that does not open with one. After the first, only the fragments are appended.
    if (!initAppended || !play.stream_type.startsWith("video/mp4")) return bytes;
    const view = new DataView(bytes);
    let at = 0;
    while (at + 8 <= bytes.byteLength) {
      const size = view.getUint32(at);
      const kind = String.fromCharCode(...new Uint8Array(bytes, at + 4, 4));
      if ((kind !== "ftyp" && kind !== "moov") || size < 8) break;
      at += size;
    }
    return bytes.slice(at);
  }

  async function appendSegment(index, whole) {
    const bytes = mediaOnly(whole);
    await whenIdle();
    try {
      buffer.appendBuffer(bytes);
    } catch (e) {
      if (e.name !== "QuotaExceededError") throw e;
      await forgetBehind(0);  // the browser is full: keep only what lies ahead
      await whenIdle();
      buffer.appendBuffer(bytes);
    }
    await whenIdle();
    appended.add(index);
    initAppended = true;
  }

  async function forgetBehind(keepSeconds) {
    // Whole segments only, so one never half-remains and is thought present.
    const until =
      groupStart(segmentAt(Math.max(0, video.currentTime - keepSeconds))) * segmentSeconds;
    const beyond = (segmentAt(video.currentTime + AHEAD_S) + 1) * segmentSeconds;
    for (const [from, to] of [[0, until], [beyond, Infinity]]) {
      const end = Math.min(to, source.duration);
      if (end <= from) continue;
      await whenIdle();
      buffer.remove(from, end);
      await whenIdle();
      for (const i of [...appended]) {
        if (i * segmentSeconds >= from && (i + 1) * segmentSeconds <= end + 1e-3) appended.delete(i);
      }
    }
  }

  async function pump() {
    if (pumping || !buffer) return;
    pumping = true;
    try {
      for (let index = wanted(); index !== null; index = wanted()) {
        const response = await fetch(play.segment_url + index);
        if (!response.ok) {
          failed.add(index);
          root.dataset.failedSegments = String(failed.size);
          continue;
        }
        await appendSegment(index, await response.arrayBuffer());
        root.dataset.segments = String(appended.size);
        await forgetBehind(BEHIND_S);
      }
      const rest = [...stored].filter((i) => i >= segmentAt(video.currentTime) && decodable(i));
      if (source.readyState === "open" && rest.every((i) => appended.has(i) || failed.has(i))) {
        await whenIdle();
        source.endOfStream();
      }
    } finally {
      pumping = false;
    }
  }

  function skipMissing() {
    // A segment that never reached the vault has no media, and the rest of its group cannot
    // be decoded without it: playing on, jump to the next that can (its marker explains the
    // gap); paused, stay where the reviewer put the play head.
    if (video.paused || duration <= 0) return;
    const here = segmentAt(video.currentTime);
    const stalled = video.readyState < HTMLMediaElement.HAVE_FUTURE_DATA &&
      (here + 1) * segmentSeconds - video.currentTime < 0.5 && !decodable(here + 1);
    if (decodable(here) && !stalled) return;
    const next = nextDecodable(here + 1);
    if (next !== null) jump(next * segmentSeconds);
  }

  function startMedia() {
    source = new MediaSource();
    source.addEventListener("sourceopen", () => {
      if (buffer) return;  // reopened by an append after endOfStream
      buffer = source.addSourceBuffer(play.stream_type);
      buffer.mode = "segments";
      source.duration = play.duration_s;
      pump();
    });
    video.src = URL.createObjectURL(source);
    for (const event of ["seeking", "timeupdate", "waiting"]) video.addEventListener(event, pump);
  }

  // ---- Waveform: the segments' peaks, in runs, from the run around the start onwards. Short
  // runs (a few minutes of a call, well under a second each) so the lanes fill as they come.
  const PEAKS_RUN = 30;
  async function loadPeaks() {
    const buckets = Math.ceil(play.duration_s * 20) + 1;
    peaks = { agent: new Uint8Array(buckets), caller: new Uint8Array(buckets) };
    const firstRun = Math.floor(segmentAt(data.start) / PEAKS_RUN) * PEAKS_RUN;
    const runs = [];
    for (let first = 0; first <= lastSegment; first += PEAKS_RUN) runs.push(first);
    runs.sort((a, b) => (a < firstRun) - (b < firstRun) || a - b);
    let loaded = 0;
    for (const first of runs) {
      const response = await fetch(play.peaks_url + "?first=" + first + "&count=" + PEAKS_RUN);
      if (!response.ok) continue;
      const found = await response.json();
      for (const segment of found.segments) {
        const at = Math.round(segment.start_s * found.per_second);
        for (const lane of lanes) {
          const values = segment[lane].slice(0, Math.max(0, buckets - at));
          peaks[lane].set(values, at);
        }
        loaded += 1;
      }
      root.dataset.peaks = String(loaded);
      redraw();
    }
  }

  video.preservesPitch = true;
  setDuration(play.duration_s);
  startMedia();
  loadPeaks();
  window.addEventListener("resize", redraw);
  showLoop();
  requestAnimationFrame(measureLevels);
})();
