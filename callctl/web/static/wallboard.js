// callctl wallboard: a live view fed by /ws/wallboard (snapshot, then seq-numbered deltas).
// No framework and no build step: plain DOM and a canvas chart.
"use strict";

(function () {
  const TOKEN_KEY = "callctl.token";
  const LANG_KEY = "callctl.lang";
  const SHORT_WAIT_S = 15; // the contract's service-level threshold

  const TEXT = {
    "zh-CN": {
      title: "实时监控大屏", waiting: "排队数", longest_wait: "最长等待",
      answer_rate: "今日接通率", service_level: "15秒接通率", avg_acw: "平均事后处理",
      answer_rate_short: "接通率", offered: "呼入", answered: "接通", abandoned: "放弃",
      lost: "丢失（系统重启）", satisfaction: "今日满意率", survey_take_up: "参评率",
      agents: "坐席状态", chart_title: "今日话务（每15分钟）", token_label: "访问令牌",
      sign_in: "进入", connected: "已连接", disconnected: "未连接", target: "目标",
      bad_token: "令牌无效或已过期", forbidden: "当前角色无权查看大屏", seconds: "秒",
      available: "空闲", ringing: "振铃", talking: "通话", acw: "事后处理",
      paused: "暂停", offline: "离线", switch: "English",
      nodes: "节点", ami_connected: "在线", ami_down: "离线", ami_auth_failed: "认证失败",
      ami_tls_failed: "TLS 验证失败", ami_unknown: "未知",
      staffing: "人力配置（每15分钟）", line: "线路", current_interval: "当前时段",
      next_interval: "下一时段", forecast_calls: "预测呼入", agents_needed: "所需坐席",
      logged_in: "已登录坐席", no_forecast: "无预测", peak: "高峰预警",
      peak_forecast: "预测", peak_live: "实时来话", needs: "需要坐席", has: "已登录",
      callbacks: "今日回访", callback_rate: "回访率", callback_timeliness: "24小时回访及时率",
    },
    en: {
      title: "Wallboard", waiting: "Calls waiting", longest_wait: "Longest wait",
      answer_rate: "Answer rate today", service_level: "15-second rate", avg_acw: "Average ACW",
      answer_rate_short: "Answer rate", offered: "Offered", answered: "Answered",
      abandoned: "Abandoned", lost: "Lost (node restarted)", agents: "Agents",
      satisfaction: "Satisfaction today", survey_take_up: "survey take-up",
      chart_title: "Today by 15 minutes",
      token_label: "Access token", sign_in: "Open", connected: "Connected",
      disconnected: "Disconnected", target: "target", bad_token: "Invalid or expired token",
      forbidden: "This role may not view the wallboard", seconds: "s", available: "Available",
      ringing: "Ringing", talking: "Talking", acw: "After-call work", paused: "Paused",
      offline: "Offline", switch: "中文",
      nodes: "Nodes", ami_connected: "Up", ami_down: "Down", ami_auth_failed: "Login refused",
      ami_tls_failed: "TLS verification failed", ami_unknown: "Unknown",
      staffing: "Staffing (15 minutes)", line: "Line", current_interval: "Now",
      next_interval: "Next", forecast_calls: "Forecast calls", agents_needed: "Agents needed",
      logged_in: "Logged in", no_forecast: "No forecast", peak: "Peak warning",
      peak_forecast: "forecast", peak_live: "live arrivals", needs: "needs", has: "logged in",
      callbacks: "Callbacks today", callback_rate: "Callback rate",
      callback_timeliness: "Reached within 24 h",
    },
  };
  const STATES = ["available", "ringing", "talking", "acw", "paused", "offline"];

  const targets = readTargets();
  // The hotline's zone, delivered with the page: the clock and the date never use the
  // browser's own zone, before the first snapshot and after a disconnect included.
  const ZONE = document.body.dataset.timezone || "Asia/Shanghai";
  const DAY_FORMAT = new Intl.DateTimeFormat("en-CA", {
    timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit",
  });
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh-CN";
  let model = null; // the last snapshot, with deltas applied
  let lastSeq = null;
  let clockOffset = 0; // server clock minus ours, seconds
  let socket = null;
  let retryMs = 500;
  let renderQueued = false;

  const $ = (id) => document.getElementById(id);
  const t = (key) => TEXT[lang][key] || key;

  function readTargets() {
    try {
      return JSON.parse(document.body.dataset.targets);
    } catch (e) {
      return { answer_rate: 90, service_level: 90, acw_s: 180, satisfaction: 95 };
    }
  }

  // --- token ---------------------------------------------------------------------------

  function takeToken() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search); // out of the URL
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function showLogin(message) {
    $("board").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token-input").focus();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    connect();
  });

  // --- connection ----------------------------------------------------------------------

  function connect() {
    const token = takeToken();
    if (!token) { showLogin(""); return; }
    $("login").hidden = true;
    $("board").hidden = false;
    pollCallbacks();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/ws/wallboard");
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: token }));
    socket.onmessage = (message) => receive(JSON.parse(message.data));
    socket.onclose = (event) => {
      setLink(false);
      socket = null;
      if (event.code === 4401) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(t("bad_token"));
      } else if (event.code === 4403) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(t("forbidden"));
      } else {
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 10000);
      }
    };
  }

  function setLink(up) {
    const link = $("link");
    link.className = "link " + (up ? "up" : "down");
    link.dataset.i18n = up ? "connected" : "disconnected";
    link.textContent = t(link.dataset.i18n);
  }

  function receive(message) {
    if (message.type === "snapshot") {
      model = message;
      lastSeq = message.seq;
      clockOffset = message.server_time - Date.now() / 1000;
      retryMs = 500;
      setLink(true);
      queueRender();
      return;
    }
    if (model === null) return;
    if (message.seq <= lastSeq) return; // already in the snapshot
    if (message.seq !== lastSeq + 1) { askSnapshot(); return; } // a gap
    lastSeq = message.seq;
    apply(message);
    queueRender();
  }

  function askSnapshot() {
    model = null;
    if (socket) socket.send(JSON.stringify({ type: "snapshot" }));
  }

  function node(name) {
    if (!model.nodes[name]) model.nodes[name] = { ami: "unknown", queues: {}, agents: {} };
    return model.nodes[name];
  }

  function apply(delta) {
    const today = model.today;
    switch (delta.type) {
      case "queue":
        node(delta.node).queues[delta.queue] = {
          waiting: delta.waiting, oldest_joined_at: delta.oldest_joined_at,
        };
        break;
      case "agent":
        if (delta.state === null) delete node(delta.node).agents[delta.agent];
        else node(delta.node).agents[delta.agent] = {
          state: delta.state, reason: delta.reason, queues: delta.queues,
        };
        break;
      case "node":
        model.nodes[delta.node] = { ami: delta.ami, queues: delta.queues, agents: delta.agents };
        break;
      case "node_link":
        node(delta.node).ami = delta.ami;
        break;
      case "kpi": {
        if (delta.day !== today.day) { askSnapshot(); return; }
        today.total = delta.total;
        today.queues[delta.queue] = delta.queue_today;
        if (delta.line !== null) today.lines[delta.line] = delta.line_today;
        const slot = today.intervals.find((i) => i.start === delta.interval.start);
        if (slot) slot.total = delta.interval.total;
        else {
          today.intervals.push({ start: delta.interval.start, total: delta.interval.total });
          today.intervals.sort((a, b) => a.start - b.start);
        }
        break;
      }
      case "today":
        model.today = delta.today;
        break;
      case "staffing":
        model.staffing = delta.staffing;
        break;
      case "directory":
        model.directory = delta.directory;
        break;
    }
  }

  // --- rendering -----------------------------------------------------------------------

  function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; render(); });
  }

  function now() { return Date.now() / 1000 + clockOffset; }

  function band(value, target, higherIsBetter, margin) {
    if (value === null || value === undefined) return "";
    if (higherIsBetter) return value >= target ? "green" : value >= target - margin ? "amber" : "red";
    return value <= target ? "green" : value <= target + margin ? "amber" : "red";
  }

  function setFigure(id, box, text, colour) {
    const className = "figure" + (colour ? " " + colour : "");
    if ($(id).textContent !== text) $(id).textContent = text;
    if ($(box).className !== className) $(box).className = className;
  }

  function percent(v) { return v === null || v === undefined ? "—" : v.toFixed(2) + "%"; }

  function duration(s) {
    if (s === null || s === undefined) return "—";
    s = Math.max(0, Math.floor(s));
    const m = Math.floor(s / 60);
    return m > 0 ? m + ":" + String(s % 60).padStart(2, "0") : s + t("seconds");
  }

  function waitingNow() {
    let waiting = 0;
    let oldest = null;
    for (const board of Object.values(model.nodes)) {
      for (const q of Object.values(board.queues)) {
        waiting += q.waiting;
        if (q.oldest_joined_at !== null && (oldest === null || q.oldest_joined_at < oldest)) {
          oldest = q.oldest_joined_at;
        }
      }
    }
    return [waiting, oldest];
  }

  // Cheap: runs on every clock tick, since the longest wait grows by itself.
  function renderWait() {
    if (model === null) return;
    const [waiting, oldest] = waitingNow();
    const longest = oldest === null ? null : now() - oldest;
    setFigure("waiting", "fig-waiting", String(waiting), waiting > 0 ? "amber" : "green");
    setFigure("longest-wait", "fig-longest", duration(longest),
      band(longest, SHORT_WAIT_S, false, SHORT_WAIT_S));
  }

  function render() {
    if (model === null) return;
    renderWait();
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    const agents = [];
    for (const board of Object.values(model.nodes)) {
      for (const [agent, view] of Object.entries(board.agents)) {
        counts[view.state] = (counts[view.state] || 0) + 1;
        agents.push([agent, view]);
      }
    }

    const total = model.today.total;
    setFigure("answer-rate", "fig-answer-rate", percent(total.answer_rate),
      band(total.answer_rate, targets.answer_rate, true, 5));
    setFigure("service-level", "fig-service-level", percent(total.service_level),
      band(total.service_level, targets.service_level, true, 5));
    setFigure("avg-acw", "fig-acw", duration(total.avg_acw_s),
      band(total.avg_acw_s, targets.acw_s, false, targets.acw_s * 0.1));
    $("answer-rate-target").textContent = t("target") + " ≥ " + targets.answer_rate + "%";
    $("service-level-target").textContent = t("target") + " ≥ " + targets.service_level + "%";
    $("acw-target").textContent = t("target") + " ≤ " + targets.acw_s + t("seconds");
    // 满意率 and 参评率 (kpi-definitions.md): no answer yet shows "—", never 0 %.
    setFigure("satisfaction", "fig-satisfaction", percent(total.satisfaction),
      band(total.satisfaction, targets.satisfaction, true, 2));
    $("satisfaction-target").textContent = t("target") + " ≥ " + targets.satisfaction + "%";
    $("survey-take-up").textContent = percent(total.survey_take_up);
    $("survey-counts").textContent =
      "(" + (total.survey_satisfied ?? 0) + "/" + (total.survey_answers ?? 0) + ")";
    $("offered").textContent = total.offered;
    $("answered").textContent = total.answered;
    $("abandoned").textContent = total.abandoned;
    $("lost").textContent = total.lost ?? 0;

    renderStaffing();
    renderNodes();
    renderAgents(counts, agents);
    drawChart(model.today);
  }

  // Each Asterisk node and its AMI link: a node down shows at once (节点 · 离线).
  function renderNodes() {
    const names = Object.keys(model.nodes).sort();
    $("node-list").replaceChildren(...names.map((name) => {
      const ami = model.nodes[name].ami || "unknown";
      const chip = document.createElement("span");
      chip.className = "node ami-" + ami;
      chip.dataset.node = name;
      chip.dataset.ami = ami;
      chip.textContent = name + " · " + t("ami_" + ami);
      return chip;
    }));
  }

  function renderAgents(counts, agents) {
    const states = $("agent-states");
    states.replaceChildren(...STATES.map((s) => {
      const tile = document.createElement("div");
      tile.className = "agent-state s-" + s;
      tile.dataset.state = s;
      tile.append(t(s));
      const b = document.createElement("b");
      b.textContent = counts[s] || 0;
      tile.append(b);
      return tile;
    }));
    agents.sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true }));
    const directory = model.directory || { agents: {}, pause_reasons: {} };
    $("agent-list").replaceChildren(...agents.map(([agent, view]) => {
      const chip = document.createElement("div");
      chip.className = "agent s-" + view.state;
      chip.dataset.agent = agent;
      chip.dataset.state = view.state;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = directory.agents[agent] || agent;
      const meta = document.createElement("span");
      meta.className = "meta-line";
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = agent;
      const state = document.createElement("span");
      state.className = "state";
      state.textContent = t(view.state) + (view.state === "paused" && view.reason
        ? " · " + reasonLabel(directory, view.reason) : "");
      const since = document.createElement("span");
      since.className = "since";
      if (view.since !== null && view.since !== undefined) since.dataset.since = view.since;
      meta.append(id, state, since);
      chip.append(name, meta);
      return chip;
    }));
    renderSince();
  }

  function reasonLabel(directory, reason) {
    const labels = directory.pause_reasons[reason];
    return labels ? (labels[lang] || labels["zh-CN"] || reason) : reason;
  }

  // Time in state, on the page's clock (corrected to the server's).
  function renderSince() {
    for (const el of document.querySelectorAll("#agent-list .since")) {
      const since = el.dataset.since;
      const text = since === undefined ? "" : clockDuration(now() - Number(since));
      if (el.textContent !== text) el.textContent = text;
    }
  }

  function clockDuration(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    const mmss = String(m).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
    return h > 0 ? h + ":" + mmss : mmss;
  }

  // Forecast calls, agents needed and logged in, now and next interval, per line.
  function renderStaffing() {
    const staffing = model.staffing;
    const rows = [];
    const lines = staffing ? staffing.lines : {};
    for (const [line, entry] of Object.entries(lines)) {
      const tr = document.createElement("tr");
      tr.dataset.line = line;
      const cell = (text, slot, field, cls) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (slot) td.dataset.slot = slot;
        if (field) td.dataset.field = field;
        if (cls) td.className = cls;
        tr.append(td);
      };
      cell(line + " " + (entry.name || ""), null, null, "line");
      for (const slot of ["current", "next"]) {
        const s = entry[slot];
        if (s) {
          cell(intervalLabel(s.start), slot, "interval");
          cell(String(s.calls), slot, "calls");
          cell(String(s.agents), slot, "agents", s.agents > entry.logged_in ? "short" : "");
        } else {
          cell(t("no_forecast"), slot, "interval", "none");
          cell("—", slot, "calls", "none");
          cell("—", slot, "agents", "none");
        }
      }
      cell(String(entry.logged_in), null, "logged_in");
      rows.push(tr);
    }
    $("staffing-rows").replaceChildren(...rows);
    const warnings = staffing ? staffing.warnings : [];
    const banner = $("peak-warning");
    banner.hidden = warnings.length === 0;
    banner.textContent = warnings.map((w) => t("peak") + " · " + w.line + " · "
      + t(w.source === "live" ? "peak_live" : "peak_forecast") + " · "
      + t(w.interval === "next" ? "next_interval" : "current_interval") + " · "
      + t("needs") + " " + w.agents_needed + " / " + t("has") + " " + w.logged_in).join("；");
  }

  function intervalLabel(start) {
    const from = new Date(start * 1000);
    const to = new Date((start + 900) * 1000);
    const hm = (d) => d.toLocaleTimeString("en-GB", { timeZone: ZONE, hour: "2-digit", minute: "2-digit" });
    return hm(from) + "–" + hm(to);
  }

  function drawChart(today) {
    const canvas = $("chart");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 1200;
    const height = canvas.clientHeight || 260;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);

    const slots = Math.round((today.end - today.start) / 900);
    const left = 40, right = 44, top = 10, bottom = 24;
    const plotW = width - left - right, plotH = height - top - bottom;
    const slotW = plotW / slots;
    const max = Math.max(4, ...today.intervals.map((i) => i.total.offered));

    g.font = "11px sans-serif";
    g.fillStyle = "#8a9bab";
    g.strokeStyle = "#223140";
    for (let h = 0; h <= 24; h += 3) { // hour marks, local time of the hotline
      const x = left + (h * 4) * slotW;
      g.beginPath(); g.moveTo(x, top); g.lineTo(x, top + plotH); g.stroke();
      g.fillText(String(h).padStart(2, "0") + ":00", x - 14, height - 6);
    }
    g.fillText(String(max), 4, top + 10);
    g.fillText("0", 4, top + plotH);
    g.fillText("100%", width - right + 4, top + 10);

    for (const slot of today.intervals) {
      const index = Math.round((slot.start - today.start) / 900);
      const x = left + index * slotW + 1;
      const w = Math.max(1, slotW - 2);
      const offeredH = (slot.total.offered / max) * plotH;
      const answeredH = (slot.total.answered / max) * plotH;
      g.fillStyle = "#3b4f63";
      g.fillRect(x, top + plotH - offeredH, w, offeredH);
      g.fillStyle = "#2fb86b";
      g.fillRect(x, top + plotH - answeredH, w, answeredH);
    }
    g.strokeStyle = "#f0a928";
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    for (const slot of today.intervals) {
      if (slot.total.answer_rate === null) continue;
      const index = Math.round((slot.start - today.start) / 900);
      const x = left + (index + 0.5) * slotW;
      const y = top + plotH - (slot.total.answer_rate / 100) * plotH;
      if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
    }
    g.stroke();
    g.lineWidth = 1;
  }

  // --- language and clock --------------------------------------------------------------

  function translate() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    document.title = t("title") + " · callctl";
    $("lang").textContent = t("switch");
    queueRender();
  }

  $("lang").addEventListener("click", () => {
    lang = lang === "en" ? "zh-CN" : "en";
    localStorage.setItem(LANG_KEY, lang);
    translate();
  });

  function tick() {
    const clock = new Date(now() * 1000);
    $("clock").textContent = clock.toLocaleTimeString("en-GB", { timeZone: ZONE, hour12: false });
    $("day").textContent = DAY_FORMAT.format(clock);
    renderWait();
    if (model !== null) renderSince();
  }

  // --- calls being monitored (supervisors' listen / whisper / barge), polled -----------

  const MODE_LABELS = { listen: "监听 listen", whisper: "耳语 whisper", barge: "强插 barge" };

  async function pollMonitors() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return;
    try {
      const r = await fetch("/api/v1/monitors", { headers: { Authorization: "Bearer " + token } });
      if (!r.ok) { $("monitors-section").hidden = true; return; }
      const sessions = await r.json();
      $("monitors-section").hidden = sessions.length === 0;
      const list = $("monitor-list");
      list.replaceChildren(...sessions.map((m) => {
        const item = document.createElement("div");
        item.textContent = m.agent + " ← " + m.username + " · " + (MODE_LABELS[m.mode] || m.mode);
        return item;
      }));
    } catch (_) { /* the websocket's state already shows a lost link */ }
  }

  // --- callbacks (回访) due today: 回访率 and 24-hour timeliness, polled ---------------------

  // (Not named "percent": a second declaration of the KPI tiles' helper would replace it
  // in the whole scope and break every figure after the first callback poll.)
  function callbackPercent(figure) {
    return figure.value === null ? "–" : figure.value.toFixed(2) + "%";
  }

  async function pollCallbacks() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return;
    try {
      const r = await fetch("/api/v1/kpis", { headers: { Authorization: "Bearer " + token } });
      if (!r.ok) { $("callbacks-section").hidden = true; return; }
      const report = await r.json();
      const cb = report.callbacks;
      $("callbacks-section").hidden = !cb || cb.counts.due === 0;
      if (!cb) return;
      $("callback-rate").textContent = callbackPercent(cb.figures.callback_rate);
      $("callback-counts").textContent = "(" + cb.counts.reached + "/" + cb.counts.due + ")";
      $("callback-timeliness").textContent = callbackPercent(cb.figures.timeliness_24h);
    } catch (_) { /* the websocket's state already shows a lost link */ }
  }

  translate();
  setInterval(tick, 250);
  setInterval(pollMonitors, 5000);
  setInterval(pollCallbacks, 30000);
  connect();
})();
