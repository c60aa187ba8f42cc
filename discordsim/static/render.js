// Messages as Discord's client draws them: markdown, embeds, attachments, components.
// Every string from the bot or a member becomes a text node; links are http(s) only.

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// A list item holding `child`.
export function listItem(child) {
  const li = document.createElement("li");
  li.append(child);
  return li;
}

const SAFE_URL = /^https?:\/\//i;
const DISCORD_LINK = /^https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/channels\/(@me|\d+)\/(\d+)(?:\/(\d+))?/i;

export function safeLink(url, label, ctx) {
  const jump = DISCORD_LINK.exec(url);
  if (jump) {
    // A message link: jump there inside the sandbox instead of leaving for discord.com.
    const a = el("a", "jump", label);
    a.href = "#";
    a.title = url;
    a.addEventListener("click", (event) => { event.preventDefault(); ctx.jump(jump[2], jump[3]); });
    return a;
  }
  if (!SAFE_URL.test(url)) return document.createTextNode(label === url ? url : `${label} (${url})`);
  const a = el("a", null, label);
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

// ---- markdown (Discord's subset) ------------------------------------------------------

const INLINE = [
  [/^\\([^A-Za-z0-9\s])/, (m) => document.createTextNode(m[1])],
  [/^(`+)([\s\S]*?[^`])\1(?!`)/, (m) => el("code", null, m[2])],
  [/^\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?\s*\)/, (m, ctx) => safeLink(m[2], m[1], ctx)],
  [/^<(https?:\/\/[^\s>]+)>/, (m, ctx) => safeLink(m[1], m[1], ctx)],
  [/^https?:\/\/[^\s<]+[^<.,:;"')\]\s]/, (m, ctx) => safeLink(m[0], m[0], ctx)],
  [/^<@!?(\d+)>/, (m, ctx) => el("span", "mention", "@" + ctx.userName(m[1]))],
  [/^<@&(\d+)>/, (m, ctx) => el("span", "mention", "@" + ctx.roleName(m[1]))],
  [/^<#(\d+)>/, (m, ctx) => el("span", "mention", "#" + ctx.channelName(m[1]))],
  [/^<\/([\w -]+):\d+>/, (m) => el("span", "mention", "/" + m[1])],
  [/^<t:(-?\d+)(?::([tTdDfFR]))?>/, (m) => el("code", null, new Date(Number(m[1]) * 1000).toLocaleString())],
  [/^<a?:(\w+):\d+>/, (m) => document.createTextNode(`:${m[1]}:`)],
  [/^\*\*\*([\s\S]+?)\*\*\*(?!\*)/, (m, ctx) => wrap("strong", wrap("em", inline(m[1], ctx)))],
  [/^\*\*([\s\S]+?)\*\*(?!\*)/, (m, ctx) => wrap("strong", inline(m[1], ctx))],
  [/^__([\s\S]+?)__(?!_)/, (m, ctx) => wrap("u", inline(m[1], ctx))],
  [/^\*(?=\S)([\s\S]*?\S)\*(?!\*)/, (m, ctx) => wrap("em", inline(m[1], ctx))],
  [/^_([\s\S]+?)_(?![A-Za-z0-9_])/, (m, ctx) => wrap("em", inline(m[1], ctx))],
  [/^~~([\s\S]+?)~~/, (m, ctx) => wrap("s", inline(m[1], ctx))],
  [/^\|\|([\s\S]+?)\|\|/, (m, ctx) => spoiler(inline(m[1], ctx))],
];
const SPECIAL = /[\\`[<h*_~|]/;

function wrap(tag, children) {
  const node = el(tag);
  node.append(...(Array.isArray(children) ? children : [children]));
  return node;
}

function spoiler(children) {
  const node = wrap("span", children);
  node.className = "spoiler";
  node.addEventListener("click", () => node.classList.add("shown"));
  return node;
}

function inline(text, ctx) {
  const out = [];
  let plain = "";
  let rest = text;
  outer: while (rest.length) {
    if (SPECIAL.test(rest[0])) {
      for (const [pattern, build] of INLINE) {
        const m = pattern.exec(rest);
        if (m) {
          if (plain) { out.push(document.createTextNode(plain)); plain = ""; }
          out.push(build(m, ctx));
          rest = rest.slice(m[0].length);
          continue outer;
        }
      }
    }
    plain += rest[0];
    rest = rest.slice(1);
  }
  if (plain) out.push(document.createTextNode(plain));
  return out;
}

export function markdown(text, ctx) {
  const frag = document.createDocumentFragment();
  for (const part of String(text ?? "").split(/(```[\s\S]*?```)/)) {
    if (part.startsWith("```") && part.endsWith("```") && part.length >= 6) {
      frag.append(wrap("pre", el("code", null, part.slice(3, -3).replace(/^[\w+-]*\n/, ""))));
      continue;
    }
    const lines = part.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;
      if ((m = /^>>> ([\s\S]*)$/.exec(line))) {
        frag.append(wrap("blockquote", inline([m[1], ...lines.slice(i + 1)].join("\n"), ctx)));
        break;
      }
      if ((m = /^(#{1,3}) (.+)$/.exec(line))) {
        const heading = wrap(`h${m[1].length + 2}`, inline(m[2], ctx));
        heading.className = "md";
        frag.append(heading);
        continue;
      }
      if ((m = /^> (.*)$/.exec(line))) {
        frag.append(wrap("blockquote", inline(m[1], ctx)));
        continue;
      }
      if ((m = /^-# (.+)$/.exec(line))) {
        const small = wrap("span", inline(m[1], ctx));
        small.className = "subtext";
        frag.append(small);
      } else {
        frag.append(...inline(line, ctx));
      }
      if (i < lines.length - 1) frag.append("\n");
    }
  }
  return frag;
}

// ---- embeds ---------------------------------------------------------------------------

function media(url, msg, cls, ctx) {
  // Images the bot names: its own attachments (attachment://name) or this origin's files.
  // Anything else would leave loopback: shown as a link instead (the CSP would block it anyway).
  if (!url) return null;
  if (url.startsWith("attachment://")) {
    const found = msg.attachments.find((a) => a.filename === url.slice("attachment://".length));
    if (!found) return null;
    url = found.url;
  }
  if (/^\/(?![/\\])/.test(url)) {  // a path on this origin ("//" or "/\" would be another host)
    const img = el("img", cls);
    img.src = url;
    img.alt = "";
    img.loading = "lazy";
    return img;
  }
  const note = el("span", "offsite", "image: ");
  note.append(safeLink(url, url, ctx));
  return note;
}

function embed(data, msg, ctx) {
  const box = el("div", "embed");
  if (Number.isInteger(data.color)) box.style.borderLeftColor = "#" + data.color.toString(16).padStart(6, "0");
  if (data.author?.name) {
    const author = el("div", "embed-author");
    author.append(data.author.url ? safeLink(data.author.url, data.author.name, ctx) : data.author.name);
    box.append(author);
  }
  if (data.title) {
    const title = el("div", "embed-title");
    title.append(data.url ? safeLink(data.url, data.title, ctx) : wrap("span", inline(data.title, ctx)));
    box.append(title);
  }
  if (data.description) {
    const description = el("div", "embed-description");
    description.append(markdown(data.description, ctx));
    box.append(description);
  }
  if (Array.isArray(data.fields) && data.fields.length) {
    const fields = el("div", "embed-fields");
    for (const field of data.fields) {
      const item = el("div", field.inline ? "embed-field inline" : "embed-field");
      const name = el("div", "embed-field-name");
      name.append(...inline(field.name ?? "", ctx));
      const value = el("div", "embed-field-value");
      value.append(markdown(field.value ?? "", ctx));
      item.append(name, value);
      fields.append(item);
    }
    box.append(fields);
  }
  const thumb = media(data.thumbnail?.url, msg, "embed-thumb", ctx);
  if (thumb) box.append(thumb);
  const image = media(data.image?.url, msg, "embed-image", ctx);
  if (image) box.append(image);
  if (data.footer?.text || data.timestamp) {
    const parts = [data.footer?.text, data.timestamp && new Date(data.timestamp).toLocaleString()].filter(Boolean);
    box.append(el("div", "embed-footer", parts.join(" • ")));
  }
  return box;
}

// ---- attachments ----------------------------------------------------------------------

function isVideo(a) {
  return (a.content_type || "").startsWith("video/") || /\.(mp4|webm|mov|m4v)$/i.test(a.filename);
}

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

function attachment(a, ctx) {
  if (isVideo(a)) {
    const figure = el("figure", "clip");
    const video = el("video");
    video.controls = true;
    video.preload = "metadata";
    video.playsInline = true;
    video.loop = true;
    video.src = a.url;
    figure.append(video);
    const caption = el("figcaption");
    if (ctx.videoNotice) caption.append(el("span", "notice", ctx.videoNotice), " ");
    caption.append(safeDownload(a));
    figure.append(caption);
    return figure;
  }
  if ((a.content_type || "").startsWith("image/")) {
    const img = el("img");
    img.src = a.url;
    img.alt = a.filename;
    return img;
  }
  if ((a.content_type || "").startsWith("audio/")) {
    const audio = el("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = a.url;
    return audio;
  }
  const file = el("div", "file");
  file.append("📄 ", safeDownload(a));
  return file;
}

function safeDownload(a) {
  const link = el("a", null, `${a.filename} (${sizeText(a.size)})`);
  link.href = a.url;
  link.download = a.filename;
  return link;
}

// ---- components -----------------------------------------------------------------------

function emojiText(emoji) {
  if (!emoji) return "";
  return emoji.id ? `:${emoji.name}:` : emoji.name || "";
}

function button(data, msg, ctx) {
  const style = Number(data.style) || 2;
  if (style === 5) {
    const link = safeLink(data.url || "", [emojiText(data.emoji), data.label].filter(Boolean).join(" "), ctx);
    if (link.nodeType === Node.ELEMENT_NODE) link.className = "btn s5";
    return link;
  }
  const node = el("button", `btn s${style}`);
  node.type = "button";
  if (data.emoji) node.append(el("span", "emoji", emojiText(data.emoji)));
  if (data.label) node.append(el("span", "label", data.label));
  node.dataset.customId = data.custom_id || "";
  node.disabled = Boolean(data.disabled) || style === 6;
  node.addEventListener("click", () => ctx.click(msg, data, node));
  return node;
}

function select(data, msg, ctx) {
  const node = el("select");
  node.dataset.customId = data.custom_id || "";
  node.disabled = Boolean(data.disabled);
  const many = (data.max_values ?? 1) > 1;
  node.multiple = many;
  if (!many) {
    const placeholder = el("option", null, data.placeholder || "Make a selection");
    placeholder.value = "";
    placeholder.disabled = true;
    placeholder.selected = true;
    node.append(placeholder);
  }
  let choices = [];
  if (data.type === 3) choices = (data.options || []).map((o) => ({ label: [emojiText(o.emoji), o.label].filter(Boolean).join(" "), value: o.value, selected: o.default }));
  else if (data.type === 5) choices = ctx.members().map((m) => ({ label: m.name, value: m.id }));
  else if (data.type === 6) choices = ctx.roles().map((r) => ({ label: r.name, value: r.id }));
  else if (data.type === 7) choices = [...ctx.members().map((m) => ({ label: m.name, value: m.id })), ...ctx.roles().map((r) => ({ label: "@" + r.name, value: r.id }))];
  else if (data.type === 8) choices = ctx.channels(data.channel_types).map((c) => ({ label: "#" + c.name, value: c.id }));
  for (const choice of choices) {
    const option = el("option", null, choice.label);
    option.value = choice.value;
    if (choice.selected) { option.selected = true; }
    node.append(option);
  }
  node.addEventListener("change", () => {
    const values = [...node.selectedOptions].map((o) => o.value).filter(Boolean);
    if (values.length >= (data.min_values ?? 1)) ctx.select(msg, data, values, node);
  });
  return node;
}

function component(data, msg, ctx) {
  switch (data.type) {
    case 1: {
      const row = el("div", "row");
      for (const child of data.components || []) row.append(component(child, msg, ctx));
      return row;
    }
    case 2: return button(data, msg, ctx);
    case 3: case 5: case 6: case 7: case 8: return select(data, msg, ctx);
    case 9: {
      const section = el("div", "section");
      const text = el("div");
      for (const child of data.components || []) text.append(component(child, msg, ctx));
      section.append(text);
      if (data.accessory) section.append(component(data.accessory, msg, ctx));
      return section;
    }
    case 10: {
      const text = el("div", "content");
      text.append(markdown(data.content || "", ctx));
      return text;
    }
    case 11: return media(data.media?.url, msg, "embed-thumb", ctx) || el("span");
    case 12: {
      const gallery = el("div", "gallery");
      for (const item of data.items || []) {
        const found = media(item.media?.url, msg, null, ctx);
        if (found) gallery.append(found);
      }
      return gallery;
    }
    case 13: {
      const url = data.file?.url || "";
      const found = msg.attachments.find((a) => url === "attachment://" + a.filename);
      return found ? attachment(found, ctx) : el("span", "offsite", url);
    }
    case 14: return el("hr", "separator");
    case 17: {
      const box = el("div", "container");
      if (Number.isInteger(data.accent_color)) box.style.borderLeftColor = "#" + data.accent_color.toString(16).padStart(6, "0");
      for (const child of data.components || []) box.append(component(child, msg, ctx));
      return box;
    }
    default:
      return el("span", "offsite", `(a component of type ${data.type} the sandbox does not draw)`);
  }
}

// ---- a whole message ------------------------------------------------------------------

function avatar(author) {
  let hash = 0;
  for (const ch of author.id) hash = (hash * 31 + ch.charCodeAt(0)) % 5;
  return el("div", `avatar c${author.bot ? 0 : hash}`, (author.name || "?").slice(0, 1).toUpperCase());
}

export function message(msg, ctx) {
  const item = el("li", msg.ephemeral ? "msg ephemeral" : "msg");
  item.dataset.id = msg.id;
  item.append(avatar(msg.author));
  if (msg.interaction) {
    const used = el("div", "used");
    used.append(el("span", "who", msg.interaction.user));
    const slash = (msg.interaction.command_type ?? 1) === 1 ? "/" : "";  // Apps menu commands have no slash
    const what = msg.interaction.command ? ` used ${slash}${msg.interaction.command}`
      : msg.interaction.type === 5 ? " filled in a form" : " used a button or menu";
    used.append(what);
    item.append(used);
  }
  const head = el("div", "head");
  head.append(el("span", "author", msg.author.name));
  if (msg.author.bot) head.append(el("span", "bot-tag", "App"));
  head.append(el("time", "time", new Date(msg.timestamp).toLocaleTimeString()));
  item.append(head);

  const body = el("div", "body");
  if (msg.loading) {
    body.append(el("div", "thinking", `${msg.author.name} is thinking`));
  } else if (msg.content) {
    const content = el("div", "content");
    content.append(markdown(msg.content, ctx));
    if (msg.edited) content.append(el("span", "edited", "(edited)"));
    body.append(content);
  } else if (msg.edited) {
    body.append(el("span", "edited", "(edited)"));
  }
  for (const data of msg.embeds || []) body.append(embed(data, msg, ctx));
  const shown = (msg.attachments || []).filter((a) => !(msg.components || []).some((c) => usesFile(c, a)));
  if (shown.length) {
    const files = el("div", "attachments");
    for (const a of shown) files.append(attachment(a, ctx));
    body.append(files);
  }
  if ((msg.components || []).length) {
    const components = el("div", "components");
    for (const data of msg.components) components.append(component(data, msg, ctx));
    body.append(components);
  }
  if (msg.thread) {
    const link = el("button", "thread-link");
    link.type = "button";
    link.append(el("span", null, "🧵"), el("span", "thread-name", msg.thread.name), el("span", "time", "open thread"));
    link.addEventListener("click", () => ctx.openChannel(msg.thread.id));
    body.append(link);
  }
  if (msg.ephemeral) {
    const note = el("div", "ephemeral-note", "👁 Only you can see this · ");
    const dismiss = el("button", null, "Dismiss message");
    dismiss.type = "button";
    dismiss.addEventListener("click", () => item.remove());
    note.append(dismiss);
    body.append(note);
  }
  item.append(body);
  item.append(ctx.messageMenu(msg));
  return item;
}

function usesFile(data, a) {
  if (data.type === 13 && data.file?.url === "attachment://" + a.filename) return true;
  return (data.components || []).some((c) => usesFile(c, a));
}

// Keep a playing <video> playing when its message is redrawn (a vote count changed).
export function keepMedia(from, to) {
  const old = new Map([...from.querySelectorAll("video")].map((v) => [v.getAttribute("src"), v]));
  for (const video of to.querySelectorAll("video")) {
    const kept = old.get(video.getAttribute("src"));
    if (kept) video.replaceWith(kept);
  }
}
