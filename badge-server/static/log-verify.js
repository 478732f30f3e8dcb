// Chengxin certificate page: checks the site's transparency log proofs in the
// visitor's own browser, so that nobody has to take our server's word for them.
//
// The page carries, in data- attributes of #log: the checkpoint (a C2SP signed note,
// base64 of its exact bytes), the log's verifier key, and per event (tr.log-event)
// the entry (base64), its index and its RFC 9162 inclusion proof (base64 hashes,
// space-separated). With WebCrypto this script
//   1. recomputes each leaf hash SHA-256(0x00 || entry) and walks the audit path to
//      the root (RFC 9162 §2.1.3.2; interior nodes SHA-256(0x01 || left || right)),
//      comparing it with the root the signed note names;
//   2. checks the note's Ed25519 signature with the verifier key
//      (`name+hexid+base64(0x01 || key)`), where the browser has Ed25519.
// Without this script (scripts off), the page says that nothing was checked here.
// Plain ES2020, no build step, no network requests, no dependencies.
"use strict";

(() => {
  const TEXT = {
    en: {
      ok: "✓ checked in this browser",
      mismatch: "✗ the proof does not match",
      pending: "no proof to check yet",
      sigOk: "Checkpoint signature: signature checked",
      sigUnsupported: "Checkpoint signature: this browser cannot check Ed25519",
      sigInvalid: "Checkpoint signature: signature invalid",
      summaryOk: (n) => `Checked in this browser: ${n} of ${n} proofs match the checkpoint`,
      summaryBad: (bad, n) => `Checked in this browser: ${bad} of ${n} proofs do not match the checkpoint`,
      summaryNone: "Checked in this browser: nothing to check yet",
      summaryError: "Checked in this browser: could not check (",
    },
    zh: {
      ok: "✓ 已在本浏览器核验",
      mismatch: "✗ 证明不符",
      pending: "暂无可核验的证明",
      sigOk: "检查点签名：签名已核验",
      sigUnsupported: "检查点签名：本浏览器无法核验 Ed25519 签名",
      sigInvalid: "检查点签名：签名无效",
      summaryOk: (n) => `本浏览器核验：${n} 条证明全部与检查点相符`,
      summaryBad: (bad, n) => `本浏览器核验：${n} 条证明中有 ${bad} 条与检查点不符`,
      summaryNone: "本浏览器核验：暂无可核验的内容",
      summaryError: "本浏览器核验：无法核验（",
    },
  };
  const t = (document.documentElement.lang || "").startsWith("zh") ? TEXT.zh : TEXT.en;

  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null when the
  // proof cannot be one for (index, size). BigInt: indices may pass 2^32.
  async function rootFromProof(index, size, leaf, proof) {
    if (index >= size) return null;
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (const p of proof) {
      if (p.length !== 32 || sn === 0n) return null;
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n ? r : null;
  }

  // C2SP signed-note: the text ends at the first blank line (its final newline
  // included); signature lines are `— name base64(keyid[4] || signature)`.
  function parseNote(bytes) {
    let split = -1;
    for (let i = 0; i + 1 < bytes.length; i++) {
      if (bytes[i] === 10 && bytes[i + 1] === 10) {
        split = i;
        break;
      }
    }
    if (split < 0) throw new Error("note without a signature block");
    const text = bytes.slice(0, split + 1);
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const lines = decoder.decode(text).split("\n");
    // tlog-checkpoint: origin, size, base64 root.
    if (lines.length < 4 || !/^[1-9][0-9]*$|^0$/.test(lines[1])) {
      throw new Error("not a checkpoint");
    }
    const sigs = decoder
      .decode(bytes.slice(split + 2))
      .split("\n")
      .filter((l) => l.startsWith("\u2014 "))
      .map((l) => {
        const [name, sig] = l.slice(2).split(" ");
        return { name, sig: b64(sig || "") };
      });
    return { text, origin: lines[0], size: BigInt(lines[1]), root: b64(lines[2]), sigs };
  }

  // signed-note verifier key: name+hexid+base64(0x01 || 32-byte Ed25519 key). The
  // name has no '+', the base64 may: split at the first two only.
  function parseVerifierKey(vkey) {
    const a = vkey.indexOf("+");
    const b = vkey.indexOf("+", a + 1);
    const id = vkey.slice(a + 1, b);
    if (a < 1 || b < 0 || !/^[0-9a-f]{8}$/.test(id)) throw new Error("verifier key");
    const key = b64(vkey.slice(b + 1));
    if (key.length !== 33 || key[0] !== 1) throw new Error("not an Ed25519 verifier key");
    return { name: vkey.slice(0, a), id, alg: key.slice(0, 1), pub: key.slice(1) };
  }

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  // "ok", "invalid" or "unsupported".
  async function checkSignature(note, vkey) {
    const k = parseVerifierKey(vkey);
    // The key id is the first 4 bytes of SHA-256(name || "\n" || 0x01 || key).
    const id = hex(
      (await sha256(concat(new TextEncoder().encode(k.name + "\n"), k.alg, k.pub))).slice(0, 4),
    );
    if (id !== k.id || note.origin !== k.name) return "invalid";
    const line = note.sigs.find(
      (s) => s.name === k.name && s.sig.length === 68 && hex(s.sig.slice(0, 4)) === k.id,
    );
    if (!line) return "invalid";
    let key;
    try {
      key = await crypto.subtle.importKey("raw", k.pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return "unsupported";
    }
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, line.sig.slice(4), note.text);
    return ok ? "ok" : "invalid";
  }

  function show(el, state, text) {
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  async function run() {
    const section = document.getElementById("log");
    if (!section) return;
    const summary = document.getElementById("log-browser");
    const rows = Array.from(section.querySelectorAll("tr.log-event"));
    if (!window.crypto || !crypto.subtle) {
      show(summary, "unsupported", t.summaryError + "WebCrypto)");
      return;
    }
    if (!section.dataset.note) {
      for (const row of rows) show(row.querySelector(".browser"), "pending", t.pending);
      show(summary, "pending", t.summaryNone);
      return;
    }
    const note = parseNote(b64(section.dataset.note));
    // The proofs are checked against the root the signed note names; the page's
    // plain size and root must be the same.
    const sameHead =
      section.dataset.size === String(note.size) &&
      equal(b64(section.dataset.root || ""), note.root);
    let checked = 0;
    let bad = 0;
    for (const row of rows) {
      const cell = row.querySelector(".browser");
      if (row.dataset.proof === undefined) {
        show(cell, "pending", t.pending);
        continue;
      }
      checked++;
      let ok = false;
      try {
        const proof = row.dataset.proof.split(" ").filter((p) => p).map(b64);
        const leaf = await leafHash(b64(row.dataset.entry));
        const root = await rootFromProof(BigInt(row.dataset.index), note.size, leaf, proof);
        ok = sameHead && root !== null && equal(root, note.root);
      } catch (e) {
        ok = false;
      }
      if (!ok) bad++;
      show(cell, ok ? "ok" : "mismatch", ok ? t.ok : t.mismatch);
    }
    if (checked === 0) show(summary, "pending", t.summaryNone);
    else if (bad === 0) show(summary, "ok", t.summaryOk(checked));
    else show(summary, "mismatch", t.summaryBad(bad, checked));

    let sig;
    try {
      sig = await checkSignature(note, section.dataset.vkey || "");
    } catch (e) {
      sig = "invalid";
    }
    const sigText = { ok: t.sigOk, invalid: t.sigInvalid, unsupported: t.sigUnsupported };
    show(document.getElementById("log-signature"), sig, sigText[sig]);
  }

  const start = () =>
    run().catch((e) => show(document.getElementById("log-browser"), "mismatch", t.summaryError + e.message + ")"));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
