// What a website adds to show the chat, with one tag and nothing else:
//   <script src="https://switchboard.example/chat/embed.js" data-channel="<channel id>" async></script>
// It adds a launcher button and, when it is pressed, an iframe of /chat/<channel> from the same server as this
// script. Styles are set through the DOM, so a host page whose policy refuses inline styles shows it too. The
// button's two words are attributes (data-open-label, data-close-label): this script runs on the host's page,
// where the server's text.js is not loaded. See docs/chat.md.
(() => {
  const script = document.currentScript;
  const channel = script?.dataset.channel;
  if (!channel) return;
  const base = new URL(script.src).origin;
  const openLabel = script.dataset.openLabel || 'Chat with us';
  const closeLabel = script.dataset.closeLabel || 'Close chat';
  const id = `switchboard-chat-${channel}`;

  const frame = document.createElement('iframe');
  frame.id = id;
  frame.title = script.dataset.title || 'Chat';
  frame.hidden = true;
  Object.assign(frame.style, {
    position: 'fixed', right: '1rem', bottom: '4.5rem', zIndex: '2147483647', width: 'min(380px, calc(100vw - 2rem))',
    height: 'min(600px, calc(100vh - 6rem))', border: '1px solid #c9ced6', borderRadius: '10px', background: '#fff',
    boxShadow: '0 6px 24px rgba(0, 0, 0, .18)',
  });

  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = openLabel;
  button.setAttribute('aria-controls', id);
  button.setAttribute('aria-expanded', 'false');
  Object.assign(button.style, {
    position: 'fixed', right: '1rem', bottom: '1rem', zIndex: '2147483647', font: '16px system-ui, sans-serif',
    padding: '.6rem 1.1rem', borderRadius: '999px', border: '1px solid #0b57d0', background: '#0b57d0',
    color: '#fff', cursor: 'pointer',
  });
  button.addEventListener('click', () => {
    const open = frame.hidden;
    // The chat loads when first opened: a page whose visitors never chat pays nothing for it.
    if (open && !frame.src) frame.src = `${base}/chat/${encodeURIComponent(channel)}`;
    frame.hidden = !open;
    button.textContent = open ? closeLabel : openLabel;
    button.setAttribute('aria-expanded', String(open));
  });

  const add = () => document.body.append(frame, button);
  if (document.body) add();
  else document.addEventListener('DOMContentLoaded', add);
})();
