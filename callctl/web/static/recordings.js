// 录音调听: search recordings and play one. The audio is fetched with the bearer token
// (an <audio> element cannot send it) and played from a blob, so seeking is local.
(() => {
  "use strict";
  const TOKEN_KEY = "callctl.token";
  const $ = (id) => document.getElementById(id);
  let current = null;

  function token() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function say(text) { $("message").textContent = text || ""; }

  async function api(path) {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
    if (!response.ok) {
      let message = response.status + "";
      try { message += " " + (await response.json()).error.message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  }

  function shanghai(iso) {
    return new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }

  async function search() {
    // Today in Asia/Shanghai (sv-SE formats dates as YYYY-MM-DD).
    const day = $("day").value
      || new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
    const params = new URLSearchParams({ start: day + "T00:00:00", limit: "500" });
    const end = new Date(day + "T00:00:00Z");
    end.setUTCDate(end.getUTCDate() + 1);
    params.set("end", end.toISOString().slice(0, 10) + "T00:00:00");
    if ($("agent").value) params.set("agent", $("agent").value);
    if ($("dissatisfied").checked) params.set("survey", "dissatisfied");
    try {
      const rows = await (await api("/api/v1/recordings?" + params)).json();
      const body = $("rows");
      body.replaceChildren();
      for (const r of rows) {
        const tr = document.createElement("tr");
        for (const value of [shanghai(r.started_at), r.line, r.agent, r.caller_num,
                             r.duration_s.toFixed(0), r.survey_answer ?? "—"]) {
          const td = document.createElement("td");
          td.textContent = value ?? "";
          tr.append(td);
        }
        const play = document.createElement("button");
        play.textContent = "播放 (play)";
        play.dataset.id = String(r.id);
        play.addEventListener("click", () => listen(r.id));
        const td = document.createElement("td");
        td.append(play);
        tr.append(td);
        body.append(tr);
      }
      say(rows.length + " 条录音 (recordings)");
    } catch (e) { say(e.message); }
  }

  async function listen(id) {
    try {
      const blob = await (await api("/api/v1/recordings/" + id + "/audio")).blob();
      if (current) URL.revokeObjectURL(current);
      current = URL.createObjectURL(blob);
      $("player").src = current;
      await $("player").play();
    } catch (e) { say(e.message); }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    search();
  });
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  if (token()) search();
})();
