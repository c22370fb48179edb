"use strict";
(() => {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("input");
  const status = document.getElementById("status");
  const params = new URLSearchParams(location.search);
  let startPayload = params.get("start");
  let socket = null;

  if (startPayload !== null) history.replaceState(null, "", location.pathname);

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function bubble(who) {
    const item = document.createElement("li");
    item.className = "msg msg--" + who;
    log.appendChild(item);
    return item;
  }

  function addText(item, text) {
    const span = document.createElement("span");
    span.className = "msg__text";
    span.textContent = text;
    item.appendChild(span);
  }

  function addButtons(item, rows) {
    if (!rows || !rows.length) return;
    const box = document.createElement("div");
    box.className = "buttons";
    for (const row of rows) {
      const line = document.createElement("div");
      line.className = "buttons__row";
      for (const b of row) {
        let el;
        if (b.url) {
          el = document.createElement("a");
          el.href = b.url; el.target = "_blank"; el.rel = "noopener";
        } else {
          el = document.createElement("button");
          el.type = "button";
          el.dataset.payload = b.payload;
          el.addEventListener("click", () => {
            addMine(b.label);
            send({ type: "button", payload: b.payload });
          });
        }
        el.textContent = b.label;
        line.appendChild(el);
      }
      box.appendChild(line);
    }
    item.appendChild(box);
  }

  function addMine(text) { addText(bubble("me"), text); scrollDown(); }

  function render(reply) {
    const item = bubble("bot");
    if (reply.type === "picture") {
      const img = document.createElement("img");
      img.src = reply.image; img.alt = "QR";
      item.appendChild(img);
      addText(item, reply.caption);
    } else {
      addText(item, reply.text);
    }
    if (reply.type === "ask_contact") {
      input.type = "tel";
      input.placeholder = reply.button_label;
      input.focus();
    } else {
      input.type = "text";
      input.placeholder = input.dataset.placeholder;
    }
    addButtons(item, reply.buttons);
    scrollDown();
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/web/ws");
    socket.addEventListener("open", () => {
      status.hidden = true;
      if (!log.children.length || startPayload !== null) {
        send({ type: "text", text: startPayload ? "/start " + startPayload : "/start" });
        startPayload = null;
      }
    });
    socket.addEventListener("message", (e) => render(JSON.parse(e.data)));
    socket.addEventListener("close", () => { status.hidden = false; setTimeout(connect, 1500); });
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    addMine(text);
    send({ type: "text", text });
    input.value = "";
  });

  connect();
})();
