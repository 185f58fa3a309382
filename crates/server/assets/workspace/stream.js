// The live stream as a page holds it: one WebSocket, resumed from the last event id it received after a drop, so
// that nothing is missed or shown twice. The first frame of each page load is a `stream.resync`: the page reads
// again what it shows.
import { useEffect, useRef, useState } from './view.js';

/// `path(after)` is the stream's path and query (`after`: the last event id received, or null), `protocols` its
/// WebSocket subprotocols. A refused upgrade does not say why: `refused()` is asked after one, and answers whether
/// trying again is pointless. `onFrame` gets each frame; the stream opens again when `key` changes.
export function useLiveStream({ path, protocols, refused, onFrame, key }) {
  const [connected, setConnected] = useState(false);
  const options = useRef(null);
  const live = useRef(null);
  options.current = { path, protocols, refused, onFrame };
  useEffect(() => {
    let socket;
    let lastId = null;
    let stopped = false;
    let retry = 500;
    function connect() {
      let opened = false;
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      socket = new WebSocket(`${scheme}//${location.host}${options.current.path(lastId)}`, options.current.protocols);
      socket.onopen = () => {
        opened = true;
        retry = 500;
        live.current = socket;
        setConnected(true);
        // Whatever happened while the page was away from the stream is read again.
        if (lastId === null) options.current.onFrame({ type: 'stream.resync', reason: 'connected' });
      };
      socket.onmessage = (message) => {
        const frame = JSON.parse(message.data);
        if (typeof frame.id === 'number') lastId = frame.id;
        options.current.onFrame(frame);
      };
      socket.onclose = async () => {
        live.current = null;
        setConnected(false);
        if (stopped) return;
        if (!opened && (await options.current.refused())) return;
        if (stopped) return;
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10_000);
      };
    }
    connect();
    return () => {
      stopped = true;
      socket?.close();
    };
  }, [key]);
  // Signals (typing) are best effort: sent only while connected, never queued.
  const send = (frame) => live.current?.send(JSON.stringify(frame));
  return { connected, send };
}
