//! The server side of `kubectl port-forward`: a SPDY/3.1 session speaking the
//! `portforward.k8s.io` stream protocol, as the kubelet (through the API server) does.
//!
//! The caller answers `POST /api/v1/namespaces/{ns}/pods/{name}/portforward` with
//! `101 Switching Protocols` (`Connection: Upgrade`, `Upgrade: SPDY/3.1`,
//! `X-Stream-Protocol-Version: portforward.k8s.io`) and hands the upgraded connection to
//! [`serve`]. (kubectl 1.31+ first asks for the same thing tunnelled in a WebSocket with
//! subprotocol `SPDY/3.1+portforward.k8s.io`; [`serve_websocket_tunnel`] serves that.)
//!
//! For every local connection kubectl opens two streams, `streamtype: error` then
//! `streamtype: data`, both with the remote `port` and a shared `requestid`. Each stream is
//! answered at once with an empty SYN_REPLY. Once a request has both, the data stream is
//! bridged to a TCP connection to `target(port)`: DATA frames become bytes to the target,
//! a FIN from the client half-closes the target's side, and the target's bytes and EOF come
//! back as DATA frames and FIN. If the target cannot be reached (or fails later), the reason
//! is written as text on the error stream, as the kubelet does; kubectl prints it. The
//! error stream is closed (FIN) when the request is over; kubectl waits for that.
//!
//! Flow control: this side acknowledges what it consumes with WINDOW_UPDATEs (per stream
//! and for the session, initial windows 64 KiB), and keeps to the peer's windows when
//! sending. moby/spdystream, which kubectl (and the kubelet) use, implements none of this:
//! it never sends WINDOW_UPDATE and ignores those it gets. So the first time a send would
//! wait on a window the peer has never updated, the session PINGs the peer; if the answer
//! comes back with still no WINDOW_UPDATE or SETTINGS from it, the peer is taken to have no
//! flow control and windows stop being enforced for the rest of the session.

pub mod frame;
mod tunnel;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use frame::{Decoder, Encoder, Frame, Headers, goaway, rst, setting};

pub use tunnel::{TUNNEL_SUBPROTOCOL, serve_websocket_tunnel};

/// What [`serve`] calls to find the real server standing in for a pod port.
pub type Target = Arc<dyn Fn(u16) -> Option<SocketAddr> + Send + Sync>;

/// The initial flow-control window of every stream and of the session, both ways.
const INITIAL_WINDOW: i64 = 64 * 1024;
/// Consumed bytes are acknowledged once this many have built up (half a window).
const WINDOW_UPDATE_THRESHOLD: u32 = 32 * 1024;
/// The most one DATA frame carries (what Go's `io.Copy` reads at a time, as kubectl does).
const MAX_DATA_CHUNK: usize = 32 * 1024;
/// DATA bytes the writer may have queued before senders wait for the socket.
const OUTBOUND_BUDGET: usize = 512 * 1024;
/// Bytes from the client a data stream may have queued for its target before the session
/// stops reading (only a peer that ignores our windows ever gets near this).
const INBOUND_BUDGET: usize = 1024 * 1024;
/// How long the second stream of a request may take to arrive (the kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Names for the error text [`serve_with`] writes on error streams.
#[derive(Clone, Debug, Default)]
pub struct PodInfo {
    /// The pod name, as in `error forwarding port 3000 to pod web-1, uid ...`.
    pub name: String,
    /// The pod UID (the CRI streaming server leaves it empty).
    pub uid: String,
}

/// Serves one upgraded port-forward connection until the client closes it (EOF) or sends
/// GOAWAY and its last request is done.
pub async fn serve<IO>(io: IO, target: Arc<dyn Fn(u16) -> Option<SocketAddr> + Send + Sync>) -> std::io::Result<()>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    serve_with(io, target, PodInfo::default()).await
}

/// [`serve`], naming the pod in the errors it reports.
pub async fn serve_with<IO>(io: IO, target: Target, pod: PodInfo) -> io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = tokio::io::split(io);
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new()),
        window_changed: Notify::new(),
        pairs_changed: Notify::new(),
        out: out_tx,
        out_budget: Arc::new(Semaphore::new(OUTBOUND_BUDGET)),
        target,
        pod,
        shutdown: shutdown.clone(),
    });
    let writer = tokio::spawn(write_frames(wr, out_rx, shutdown.clone()));

    let mut reader = FrameReader::new(rd);
    let result = loop {
        let drained = shared.pairs_changed.notified();
        if shared.lock().drained_after_goaway() {
            break Ok(());
        }
        tokio::select! {
            frame = reader.next() => match frame {
                Ok(Some(frame)) => shared.handle(frame).await,
                Ok(None) => break Ok(()),
                Err(e) => {
                    if e.kind() == io::ErrorKind::InvalidData {
                        let last = shared.lock().last_peer_stream;
                        shared.send(Frame::GoAway { last_good_stream_id: last, status: goaway::PROTOCOL_ERROR });
                    }
                    break if is_disconnect(&e) { Ok(()) } else { Err(e) };
                }
            },
            _ = drained => {}
            _ = shutdown.cancelled() => break Ok(()),
        }
    };

    // Stop every request, let the writer flush what is queued, and close.
    let _ = shared.out.send(Outgoing::Close);
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    result
}

/// A connection ending under us is the normal way for a client to leave.
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// What the writer task is given.
enum Outgoing {
    /// A frame, with the outbound budget its DATA holds until it is on the wire.
    Frame(Frame, Option<OwnedSemaphorePermit>),
    /// Flush and shut the connection's write side.
    Close,
}

/// Encodes frames in the order they are queued (header compression depends on it) and
/// writes them, batching whatever is queued together.
async fn write_frames<W>(mut wr: W, mut rx: mpsc::UnboundedReceiver<Outgoing>, shutdown: CancellationToken)
where
    W: AsyncWrite + Unpin,
{
    let mut encoder = Encoder::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut permits = Vec::new();
    let mut closing = false;
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Outgoing::Frame(frame, permit) => {
                    if let Err(e) = encoder.encode(&frame, &mut buf) {
                        tracing::warn!("spdy: cannot encode {frame:?}: {e}");
                    }
                    permits.extend(permit);
                }
                Outgoing::Close => closing = true,
            }
            if closing || buf.len() >= 256 * 1024 {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !buf.is_empty() {
            if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
                break;
            }
            buf.clear();
        }
        permits.clear();
        if closing {
            let _ = wr.shutdown().await;
            return;
        }
    }
    // The connection failed (or every sender is gone): end the session.
    shutdown.cancel();
}

/// Reads whole frames, keeping partial ones buffered, so `next` can be raced safely.
struct FrameReader<R> {
    rd: R,
    buf: Vec<u8>,
    chunk: Box<[u8]>,
    decoder: Decoder,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(rd: R) -> Self {
        FrameReader {
            rd,
            buf: Vec::new(),
            chunk: vec![0; 64 * 1024].into_boxed_slice(),
            decoder: Decoder::new(),
        }
    }

    /// The next frame, or `None` at a clean EOF between frames. Cancel-safe.
    async fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some((frame, used)) = self.decoder.decode(&self.buf)? {
                self.buf.drain(..used);
                return Ok(Some(frame));
            }
            let n = self.rd.read(&mut self.chunk).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            self.buf.extend_from_slice(&self.chunk[..n]);
        }
    }
}

/// Whether the peer does flow control, as far as the session can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum PeerFlow {
    /// Nothing seen yet either way.
    #[default]
    Unknown,
    /// A send is waiting on a window; this PING asks whether an update is coming.
    Probing(u32),
    /// The peer has sent WINDOW_UPDATE or SETTINGS: its windows are kept to.
    Active,
    /// The peer answered the probe without ever updating a window (moby/spdystream).
    Absent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamType {
    Error,
    Data,
}

/// Where a client stream's bytes go.
enum Inbound {
    Data(Vec<u8>, OwnedSemaphorePermit),
    Fin,
}

struct StreamState {
    /// What this side may still send on it.
    send_window: i64,
    /// Bytes consumed from it that have not been acknowledged.
    recv_unacked: u32,
    /// This side has sent FIN (or RST_STREAM).
    local_closed: bool,
    /// The client has sent FIN (or RST_STREAM).
    remote_closed: bool,
    /// For a data stream: its bytes' way to the request's task, and the budget they hold.
    inbound: Option<(mpsc::UnboundedSender<Inbound>, Arc<Semaphore>)>,
    /// Cancelled when the stream is reset; for a data stream, this stops its request.
    cancel: CancellationToken,
}

/// A request whose two streams have not both arrived.
struct PendingPair {
    generation: u64,
    error: Option<u32>,
    data: Option<(u32, u16, mpsc::UnboundedReceiver<Inbound>, CancellationToken)>,
}

struct State {
    streams: HashMap<u32, StreamState>,
    pending: HashMap<String, PendingPair>,
    /// Requests being forwarded.
    active: usize,
    generation: u64,
    session_send_window: i64,
    /// The peer's SETTINGS_INITIAL_WINDOW_SIZE.
    initial_send_window: i64,
    session_recv_unacked: u32,
    flow: PeerFlow,
    last_peer_stream: u32,
    next_ping_id: u32,
    going_away: bool,
}

impl State {
    fn new() -> Self {
        State {
            streams: HashMap::new(),
            pending: HashMap::new(),
            active: 0,
            generation: 0,
            session_send_window: INITIAL_WINDOW,
            initial_send_window: INITIAL_WINDOW,
            session_recv_unacked: 0,
            flow: PeerFlow::Unknown,
            last_peer_stream: 0,
            // Pings this side starts carry even ids.
            next_ping_id: 2,
            going_away: false,
        }
    }

    fn drained_after_goaway(&self) -> bool {
        self.going_away && self.active == 0 && self.pending.is_empty()
    }

    /// Forgets a stream once both directions are closed.
    fn retire(&mut self, id: u32) {
        if self.streams.get(&id).is_some_and(|s| s.local_closed && s.remote_closed) {
            self.streams.remove(&id);
        }
    }
}

struct Shared {
    state: Mutex<State>,
    window_changed: Notify,
    pairs_changed: Notify,
    out: mpsc::UnboundedSender<Outgoing>,
    out_budget: Arc<Semaphore>,
    target: Target,
    pod: PodInfo,
    shutdown: CancellationToken,
}

/// Why a request's streams stopped: the stream went away under us, or the session ended.
struct Gone;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, frame: Frame) {
        let _ = self.out.send(Outgoing::Frame(frame, None));
    }

    async fn handle(self: &Arc<Self>, frame: Frame) {
        match frame {
            Frame::SynStream {
                stream_id,
                fin,
                headers,
                ..
            } => self.open_stream(stream_id, fin, &headers),
            Frame::Data { stream_id, fin, data } => self.receive_data(stream_id, fin, data).await,
            Frame::RstStream { stream_id, .. } => self.reset_by_peer(stream_id),
            Frame::Headers {
                stream_id, fin: true, ..
            } => self.finish_by_peer(stream_id),
            Frame::Ping { id } if id % 2 == 1 => self.send(Frame::Ping { id }),
            Frame::Ping { id } => {
                let mut st = self.lock();
                if st.flow == PeerFlow::Probing(id) {
                    tracing::debug!("spdy: peer answered the probe without flow control; windows not enforced");
                    st.flow = PeerFlow::Absent;
                    drop(st);
                    self.window_changed.notify_waiters();
                }
            }
            Frame::WindowUpdate { stream_id, delta } => self.window_update(stream_id, delta),
            Frame::Settings { entries, .. } => {
                if let Some(entry) = entries.iter().find(|e| e.id == setting::INITIAL_WINDOW_SIZE) {
                    let mut st = self.lock();
                    let value = i64::from(entry.value & 0x7fff_ffff);
                    let delta = value - st.initial_send_window;
                    st.initial_send_window = value;
                    st.flow = PeerFlow::Active;
                    for stream in st.streams.values_mut() {
                        stream.send_window += delta;
                    }
                    drop(st);
                    self.window_changed.notify_waiters();
                }
            }
            Frame::GoAway { .. } => {
                self.lock().going_away = true;
                self.pairs_changed.notify_waiters();
            }
            // SYN_REPLY (this side opens no streams), other HEADERS, unknown control frames.
            _ => {}
        }
    }

    /// A SYN_STREAM: check it like the kubelet, answer it, and pair it with its request.
    fn open_stream(self: &Arc<Self>, id: u32, fin: bool, headers: &Headers) {
        let mut st = self.lock();
        if id == 0 || id % 2 == 0 || id <= st.last_peer_stream {
            drop(st);
            return self.send(Frame::RstStream {
                stream_id: id,
                status: rst::PROTOCOL_ERROR,
            });
        }
        st.last_peer_stream = id;
        if st.going_away {
            drop(st);
            return self.send(Frame::RstStream {
                stream_id: id,
                status: rst::REFUSED_STREAM,
            });
        }
        let (kind, port) = match validate(headers) {
            Ok(ok) => ok,
            Err(why) => {
                drop(st);
                tracing::debug!("spdy: refusing stream {id}: {why}");
                return self.send(Frame::RstStream {
                    stream_id: id,
                    status: rst::CANCEL,
                });
            }
        };
        let request_id = match frame::header(headers, "requestid") {
            Some(r) if !r.is_empty() => r.to_string(),
            // Clients older than request ids: the kubelet derives one from the stream ids.
            _ => match kind {
                StreamType::Error => id.to_string(),
                StreamType::Data => id.saturating_sub(2).to_string(),
            },
        };

        let cancel = self.shutdown.child_token();
        let initial = st.initial_send_window;
        let mut stream = StreamState {
            send_window: initial,
            recv_unacked: 0,
            local_closed: false,
            remote_closed: fin,
            inbound: None,
            cancel: cancel.clone(),
        };
        let mut data_rx = None;
        if kind == StreamType::Data {
            let (tx, rx) = mpsc::unbounded_channel();
            if fin {
                let _ = tx.send(Inbound::Fin);
            }
            stream.inbound = Some((tx, Arc::new(Semaphore::new(INBOUND_BUDGET))));
            data_rx = Some(rx);
        }
        st.streams.insert(id, stream);
        self.send(Frame::SynReply {
            stream_id: id,
            fin: false,
            headers: Headers::new(),
        });

        st.generation += 1;
        let generation = st.generation;
        let created = !st.pending.contains_key(&request_id);
        let pair = st.pending.entry(request_id.clone()).or_insert(PendingPair {
            generation,
            error: None,
            data: None,
        });
        let duplicate = match (kind, data_rx) {
            (StreamType::Error, _) if pair.error.is_some() => Some("error stream already assigned"),
            (StreamType::Error, _) => {
                pair.error = Some(id);
                None
            }
            (StreamType::Data, _) if pair.data.is_some() => Some("data stream already assigned"),
            (StreamType::Data, rx) => {
                pair.data = Some((id, port, rx.expect("data streams have a channel"), cancel));
                None
            }
        };
        if let Some(why) = duplicate {
            let error_stream = pair.error;
            drop(st);
            if let Some(error_stream) = error_stream {
                let msg = format!("error processing stream for request {request_id}: {why}");
                let shared = self.clone();
                tokio::spawn(async move {
                    let _ = shared
                        .send_data(error_stream, msg.as_bytes(), &CancellationToken::new())
                        .await;
                });
            }
            return;
        }
        if created {
            let shared = self.clone();
            let request_id = request_id.clone();
            tokio::spawn(async move { shared.expire_pair(request_id, generation).await });
        }
        let complete = pair.error.is_some() && pair.data.is_some();
        if complete {
            let pair = st.pending.remove(&request_id).expect("just looked at it");
            st.active += 1;
            let error_id = pair.error.expect("complete");
            let (data_id, port, data_rx, cancel) = pair.data.expect("complete");
            drop(st);
            let shared = self.clone();
            tokio::spawn(async move {
                shared.forward_request(port, error_id, data_id, data_rx, cancel).await;
                shared.lock().active -= 1;
                shared.pairs_changed.notify_waiters();
            });
        }
    }

    /// Gives up on a request whose second stream never came, as the kubelet does.
    async fn expire_pair(self: Arc<Self>, request_id: String, generation: u64) {
        tokio::select! {
            _ = tokio::time::sleep(STREAM_CREATION_TIMEOUT) => {}
            _ = self.shutdown.cancelled() => return,
        }
        let error_stream = {
            let mut st = self.lock();
            if st.pending.get(&request_id).is_none_or(|p| p.generation != generation) {
                return;
            }
            let pair = st.pending.remove(&request_id).expect("present");
            pair.error
        };
        self.pairs_changed.notify_waiters();
        if let Some(error_stream) = error_stream {
            let msg = format!("(request={request_id}) timed out waiting for streams");
            let _ = self
                .send_data(error_stream, msg.as_bytes(), &CancellationToken::new())
                .await;
            self.close_stream(error_stream);
        }
    }

    async fn receive_data(&self, id: u32, fin: bool, data: Vec<u8>) {
        let len = data.len() as u32;
        let route = {
            let mut st = self.lock();
            match st.streams.get_mut(&id) {
                Some(s) if !s.remote_closed => {
                    if fin {
                        s.remote_closed = true;
                    }
                    match &s.inbound {
                        Some((tx, budget)) => Some((tx.clone(), budget.clone())),
                        None => {
                            // Nothing reads a client's writes to an error stream: consume them.
                            drop(st);
                            self.consumed(id, len);
                            self.lock().retire(id);
                            return;
                        }
                    }
                }
                Some(_) => {
                    drop(st);
                    self.consumed(0, len);
                    return self.send(Frame::RstStream {
                        stream_id: id,
                        status: rst::STREAM_ALREADY_CLOSED,
                    });
                }
                // Data for a stream already gone (reset, or finished): count it and drop it.
                None => {
                    drop(st);
                    return self.consumed(0, len);
                }
            }
        };
        let Some((tx, budget)) = route else { return };
        if !data.is_empty() {
            let want = data.len().min(INBOUND_BUDGET) as u32;
            let permit = tokio::select! {
                p = budget.acquire_many_owned(want) => p.ok(),
                _ = self.shutdown.cancelled() => None,
            };
            match permit {
                Some(permit) => {
                    if tx.send(Inbound::Data(data, permit)).is_err() {
                        self.consumed(0, len);
                    }
                }
                None => return,
            }
        }
        if fin {
            let _ = tx.send(Inbound::Fin);
            self.lock().retire(id);
        }
    }

    fn reset_by_peer(&self, id: u32) {
        let mut st = self.lock();
        if let Some(s) = st.streams.remove(&id) {
            s.cancel.cancel();
        }
        drop(st);
        self.window_changed.notify_waiters();
    }

    fn finish_by_peer(&self, id: u32) {
        let mut st = self.lock();
        if let Some(s) = st.streams.get_mut(&id)
            && !s.remote_closed
        {
            s.remote_closed = true;
            if let Some((tx, _)) = &s.inbound {
                let _ = tx.send(Inbound::Fin);
            }
            st.retire(id);
        }
    }

    fn window_update(&self, id: u32, delta: u32) {
        let mut st = self.lock();
        if matches!(st.flow, PeerFlow::Unknown | PeerFlow::Probing(_)) {
            st.flow = PeerFlow::Active;
        }
        let delta = i64::from(delta);
        if id == 0 {
            st.session_send_window = (st.session_send_window + delta).min(i64::from(i32::MAX));
        } else if let Some(s) = st.streams.get_mut(&id) {
            s.send_window += delta;
            if s.send_window > i64::from(i32::MAX) {
                s.local_closed = true;
                s.remote_closed = true;
                s.cancel.cancel();
                st.streams.remove(&id);
                drop(st);
                self.send(Frame::RstStream {
                    stream_id: id,
                    status: rst::FLOW_CONTROL_ERROR,
                });
                return self.window_changed.notify_waiters();
            }
        }
        drop(st);
        self.window_changed.notify_waiters();
    }

    /// Acknowledges `n` bytes consumed from stream `id` (0: only the session's share).
    fn consumed(&self, id: u32, n: u32) {
        if n == 0 {
            return;
        }
        let mut st = self.lock();
        st.session_recv_unacked += n;
        if st.session_recv_unacked >= WINDOW_UPDATE_THRESHOLD {
            let delta = std::mem::take(&mut st.session_recv_unacked);
            self.send(Frame::WindowUpdate { stream_id: 0, delta });
        }
        if let Some(s) = st.streams.get_mut(&id)
            && !s.remote_closed
        {
            s.recv_unacked += n;
            if s.recv_unacked >= WINDOW_UPDATE_THRESHOLD {
                let delta = std::mem::take(&mut s.recv_unacked);
                self.send(Frame::WindowUpdate { stream_id: id, delta });
            }
        }
    }

    /// Takes up to `want` bytes of send window on stream `id`, waiting for the peer's
    /// WINDOW_UPDATEs if it does flow control.
    async fn reserve(&self, id: u32, want: usize, cancel: &CancellationToken) -> Result<usize, Gone> {
        loop {
            let notified = self.window_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                let enforce = st.flow != PeerFlow::Absent;
                let session = st.session_send_window;
                let s = st.streams.get_mut(&id).ok_or(Gone)?;
                if s.local_closed {
                    return Err(Gone);
                }
                let room = if enforce { session.min(s.send_window) } else { i64::MAX };
                if room > 0 {
                    let n = want.min(MAX_DATA_CHUNK).min(room as usize);
                    s.send_window -= n as i64;
                    st.session_send_window -= n as i64;
                    return Ok(n);
                }
                if st.flow == PeerFlow::Unknown {
                    let id = st.next_ping_id;
                    st.next_ping_id += 2;
                    st.flow = PeerFlow::Probing(id);
                    self.send(Frame::Ping { id });
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = cancel.cancelled() => return Err(Gone),
            }
        }
    }

    /// Sends `data` on stream `id` as DATA frames, within the windows and outbound budget.
    async fn send_data(&self, id: u32, mut data: &[u8], cancel: &CancellationToken) -> Result<(), Gone> {
        while !data.is_empty() {
            let n = self.reserve(id, data.len(), cancel).await?;
            let permit = tokio::select! {
                p = self.out_budget.clone().acquire_many_owned(n as u32) => p.map_err(|_| Gone)?,
                _ = cancel.cancelled() => return Err(Gone),
                _ = self.shutdown.cancelled() => return Err(Gone),
            };
            let frame = Frame::Data {
                stream_id: id,
                fin: false,
                data: data[..n].to_vec(),
            };
            self.out.send(Outgoing::Frame(frame, Some(permit))).map_err(|_| Gone)?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Half-closes stream `id` from this side with an empty FIN, unless already closed.
    fn close_stream(&self, id: u32) {
        let mut st = self.lock();
        if let Some(s) = st.streams.get_mut(&id)
            && !s.local_closed
        {
            s.local_closed = true;
            self.send(Frame::Data {
                stream_id: id,
                fin: true,
                data: Vec::new(),
            });
            st.retire(id);
        }
    }

    /// Resets stream `id` from this side.
    fn reset_stream(&self, id: u32, status: u32) {
        let mut st = self.lock();
        if let Some(s) = st.streams.remove(&id) {
            s.cancel.cancel();
            self.send(Frame::RstStream { stream_id: id, status });
        }
    }

    /// One request: connect to the target and bridge it to the data stream; report any
    /// failure on the error stream; close both.
    async fn forward_request(
        self: &Arc<Self>,
        port: u16,
        error_id: u32,
        data_id: u32,
        data_rx: mpsc::UnboundedReceiver<Inbound>,
        cancel: CancellationToken,
    ) {
        if let Err(why) = self.bridge(port, data_id, data_rx, &cancel).await {
            let msg = if self.pod.name.is_empty() {
                format!("error forwarding port {port}: {why}")
            } else {
                format!(
                    "error forwarding port {port} to pod {}, uid {}: {why}",
                    self.pod.name, self.pod.uid
                )
            };
            tracing::debug!("spdy: {msg}");
            let _ = self.send_data(error_id, msg.as_bytes(), &self.shutdown).await;
        }
        // Error stream first, as the kubelet's deferred closes do; kubectl waits on it.
        self.close_stream(error_id);
        self.close_stream(data_id);
        self.window_changed.notify_waiters();
    }

    /// Bridges the data stream and a TCP connection to the target until both directions
    /// are done or the stream is reset. An `Err` is the text for the error stream.
    async fn bridge(
        &self,
        port: u16,
        data_id: u32,
        mut data_rx: mpsc::UnboundedReceiver<Inbound>,
        cancel: &CancellationToken,
    ) -> Result<(), String> {
        let refused = || format!("dial tcp4 127.0.0.1:{port}: connect: connection refused");
        let addr = (self.target)(port).ok_or_else(refused)?;
        let tcp = tokio::select! {
            tcp = TcpStream::connect(addr) => tcp.map_err(|e| format!("dial tcp {addr}: connect: {}", go_error(&e)))?,
            _ = cancel.cancelled() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let (mut from_target, mut to_target) = tcp.into_split();

        // Client → target: until the client's FIN (half-close the target) or a reset.
        let upstream = async {
            loop {
                let next = tokio::select! {
                    next = data_rx.recv() => next,
                    _ = cancel.cancelled() => return Ok(()),
                };
                match next {
                    Some(Inbound::Data(bytes, permit)) => {
                        let n = bytes.len() as u32;
                        if let Err(e) = to_target.write_all(&bytes).await {
                            // The target stopped reading: abandon the stream, as CRI runtimes do.
                            tracing::debug!("spdy: writing to {addr}: {e}");
                            self.reset_stream(data_id, rst::CANCEL);
                            return Ok(());
                        }
                        drop(permit);
                        self.consumed(data_id, n);
                    }
                    Some(Inbound::Fin) => {
                        let _ = to_target.shutdown().await;
                        return Ok(());
                    }
                    None => return Ok(()),
                }
            }
        };
        // Target → client: until the target's EOF (FIN the data stream) or a reset.
        let downstream = async {
            let mut buf = vec![0u8; MAX_DATA_CHUNK];
            loop {
                let n = tokio::select! {
                    n = from_target.read(&mut buf) => n,
                    _ = cancel.cancelled() => return Ok(()),
                };
                match n {
                    Ok(0) => {
                        self.close_stream(data_id);
                        return Ok(());
                    }
                    Ok(n) => {
                        if self.send_data(data_id, &buf[..n], cancel).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(format!("read tcp {addr}: {}", go_error(&e))),
                }
            }
        };
        tokio::try_join!(upstream, downstream).map(|_| ())
    }
}

/// Checks a new stream's headers the way the kubelet's port-forward handler does.
fn validate(headers: &Headers) -> Result<(StreamType, u16), String> {
    let port = frame::header(headers, "port").filter(|p| !p.is_empty());
    let port = port.ok_or_else(|| "\"port\" header is required".to_string())?;
    let port: u16 = port
        .parse()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port \"{port}\" must be > 0"));
    }
    let kind = match frame::header(headers, "streamtype") {
        None | Some("") => return Err("\"streamType\" header is required".into()),
        Some("error") => StreamType::Error,
        Some("data") => StreamType::Data,
        Some(other) => return Err(format!("invalid stream type {other:?}")),
    };
    Ok((kind, port))
}

/// An I/O error worded as Go's net package words it (`connection refused`, ...).
fn go_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        io::ErrorKind::TimedOut => "connection timed out".into(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            text.to_lowercase()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;
    use tokio::net::TcpListener;

    /// A scripted SPDY client on the other end of an in-memory connection.
    struct Peer {
        enc: Encoder,
        reader: FrameReader<tokio::io::ReadHalf<DuplexStream>>,
        wr: tokio::io::WriteHalf<DuplexStream>,
    }

    fn start(target: Target) -> (Peer, tokio::task::JoinHandle<io::Result<()>>) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let session = tokio::spawn(serve_with(
            server,
            target,
            PodInfo {
                name: "web-1".into(),
                uid: String::new(),
            },
        ));
        let (rd, wr) = tokio::io::split(client);
        let peer = Peer {
            enc: Encoder::new(),
            reader: FrameReader::new(rd),
            wr,
        };
        (peer, session)
    }

    impl Peer {
        async fn send(&mut self, frame: Frame) {
            let mut buf = Vec::new();
            self.enc.encode(&frame, &mut buf).unwrap();
            self.wr.write_all(&buf).await.unwrap();
        }

        async fn recv(&mut self) -> Frame {
            tokio::time::timeout(Duration::from_secs(10), self.reader.next())
                .await
                .expect("a frame within 10s")
                .unwrap()
                .expect("a frame, not EOF")
        }

        /// The next frame, if one comes within `ms`.
        async fn maybe_recv(&mut self, ms: u64) -> Option<Frame> {
            tokio::time::timeout(Duration::from_millis(ms), self.reader.next())
                .await
                .ok()
                .map(|f| f.unwrap().expect("a frame, not EOF"))
        }

        /// Opens kubectl's error + data stream pair for request `req` to `port`.
        async fn open_pair(&mut self, req: u32, port: u16) -> (u32, u32) {
            let (error_id, data_id) = (4 * req + 1, 4 * req + 3);
            for (id, kind) in [(error_id, "error"), (data_id, "data")] {
                let headers = vec![
                    ("streamtype".to_string(), kind.to_string()),
                    ("port".to_string(), port.to_string()),
                    ("requestid".to_string(), req.to_string()),
                ];
                self.send(Frame::SynStream {
                    stream_id: id,
                    associated_to: 0,
                    priority: 0,
                    slot: 0,
                    fin: false,
                    unidirectional: false,
                    headers,
                })
                .await;
                assert_eq!(
                    self.recv().await,
                    Frame::SynReply {
                        stream_id: id,
                        fin: false,
                        headers: vec![]
                    }
                );
            }
            // kubectl closes its side of the error stream at once.
            self.send(Frame::Data {
                stream_id: error_id,
                fin: true,
                data: vec![],
            })
            .await;
            (error_id, data_id)
        }
    }

    fn to(addr: SocketAddr) -> Target {
        Arc::new(move |port| (port == 3000).then_some(addr))
    }

    /// A target that writes `n` bytes then closes.
    async fn source(n: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            conn.write_all(&vec![7u8; n]).await.unwrap();
            conn.shutdown().await.unwrap();
            // Hold the read side open until the client is done.
            let mut sink = Vec::new();
            let _ = conn.read_to_end(&mut sink).await;
        });
        addr
    }

    #[tokio::test]
    async fn ping_is_answered_and_goaway_ends_the_session() {
        let (mut peer, session) = start(Arc::new(|_| None));
        peer.send(Frame::Ping { id: 1 }).await;
        assert_eq!(peer.recv().await, Frame::Ping { id: 1 });
        peer.send(Frame::GoAway {
            last_good_stream_id: 0,
            status: goaway::OK,
        })
        .await;
        let ended = tokio::time::timeout(Duration::from_secs(5), session).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }

    #[tokio::test]
    async fn eof_ends_the_session() {
        let (peer, session) = start(Arc::new(|_| None));
        drop(peer);
        let ended = tokio::time::timeout(Duration::from_secs(5), session).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }

    #[tokio::test]
    async fn bad_stream_headers_are_reset() {
        let (mut peer, _session) = start(Arc::new(|_| None));
        peer.send(Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            slot: 0,
            fin: false,
            unidirectional: false,
            headers: vec![("streamtype".into(), "data".into())],
        })
        .await;
        assert_eq!(
            peer.recv().await,
            Frame::RstStream {
                stream_id: 1,
                status: rst::CANCEL
            }
        );
    }

    #[tokio::test]
    async fn unreachable_target_is_reported_on_the_error_stream() {
        let (mut peer, _session) = start(Arc::new(|_| None));
        let (error_id, data_id) = peer.open_pair(0, 3999).await;
        let mut text = Vec::new();
        let mut closed = Vec::new();
        while closed.len() < 2 {
            match peer.recv().await {
                Frame::Data { stream_id, fin, data } => {
                    if stream_id == error_id {
                        text.extend(data);
                    }
                    if fin {
                        closed.push(stream_id);
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(closed, [error_id, data_id], "error stream closes first");
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "error forwarding port 3999 to pod web-1, uid : dial tcp4 127.0.0.1:3999: connect: connection refused"
        );
    }

    /// Reads the data stream to its FIN, answering probes with `on_ping` and granting
    /// window whenever the server has used `grant` bytes; returns the bytes and the number
    /// of stalls (times nothing came until a WINDOW_UPDATE was sent).
    async fn drain(peer: &mut Peer, data_id: u32, grant: Option<u32>) -> (usize, usize, bool) {
        let (mut got, mut since_grant, mut stalls, mut pinged) = (0usize, 0u32, 0usize, false);
        loop {
            let frame = match peer.maybe_recv(300).await {
                Some(frame) => frame,
                None => {
                    let grant = grant.expect("without flow control nothing should stall");
                    assert_eq!(since_grant, 64 * 1024, "stalled before the window was used up");
                    stalls += 1;
                    since_grant = 0;
                    for stream_id in [0, data_id] {
                        peer.send(Frame::WindowUpdate {
                            stream_id,
                            delta: grant,
                        })
                        .await;
                    }
                    continue;
                }
            };
            match frame {
                Frame::Data { stream_id, fin, data } if stream_id == data_id => {
                    got += data.len();
                    since_grant += data.len() as u32;
                    if grant.is_some() {
                        assert!(since_grant <= 64 * 1024, "sent past the window");
                    }
                    if fin {
                        return (got, stalls, pinged);
                    }
                }
                Frame::Ping { id } => {
                    assert_eq!(id % 2, 0, "server pings are even");
                    pinged = true;
                    peer.send(Frame::Ping { id }).await;
                }
                Frame::Data { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_flow_controlled_peer_gets_no_more_than_its_window() {
        let addr = source(200 * 1024).await;
        let (mut peer, _session) = start(to(addr));
        // Say this peer does flow control, with the default 64 KiB window.
        peer.send(Frame::Settings {
            clear: false,
            entries: vec![frame::Setting {
                flags: 0,
                id: setting::INITIAL_WINDOW_SIZE,
                value: 64 * 1024,
            }],
        })
        .await;
        let (_, data_id) = peer.open_pair(0, 3000).await;
        let (got, stalls, pinged) = drain(&mut peer, data_id, Some(64 * 1024)).await;
        assert_eq!(got, 200 * 1024);
        assert_eq!(stalls, 3, "200 KiB through a 64 KiB window waits three times");
        assert!(!pinged);
    }

    #[tokio::test]
    async fn a_peer_without_flow_control_is_probed_once_then_not_held_back() {
        let addr = source(1024 * 1024).await;
        let (mut peer, _session) = start(to(addr));
        let (_, data_id) = peer.open_pair(0, 3000).await;
        let (got, stalls, pinged) = drain(&mut peer, data_id, None).await;
        assert_eq!(got, 1024 * 1024);
        assert_eq!(stalls, 0);
        assert!(pinged, "the window ran out, so the server should have probed");
    }

    #[tokio::test]
    async fn consumed_data_is_acknowledged_and_fin_half_closes_the_target() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (count_tx, count_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut all = Vec::new();
            conn.read_to_end(&mut all).await.unwrap();
            conn.write_all(format!("{}", all.len()).as_bytes()).await.unwrap();
            let _ = count_tx.send(all.len());
        });
        let (mut peer, _session) = start(to(addr));
        let (_, data_id) = peer.open_pair(0, 3000).await;
        for _ in 0..4 {
            peer.send(Frame::Data {
                stream_id: data_id,
                fin: false,
                data: vec![1; 16 * 1024],
            })
            .await;
        }
        // Once the target has taken it all, both windows are given back in full.
        let (mut session_acked, mut stream_acked) = (0, 0);
        while session_acked < 64 * 1024 || stream_acked < 64 * 1024 {
            match peer.recv().await {
                Frame::WindowUpdate { stream_id: 0, delta } => session_acked += delta,
                Frame::WindowUpdate { stream_id, delta } if stream_id == data_id => stream_acked += delta,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((session_acked, stream_acked), (64 * 1024, 64 * 1024));

        // FIN half-closes the target, which answers and closes; that comes back as FIN.
        peer.send(Frame::Data {
            stream_id: data_id,
            fin: true,
            data: vec![],
        })
        .await;
        let mut reply = Vec::new();
        loop {
            match peer.recv().await {
                Frame::Data { stream_id, fin, data } if stream_id == data_id => {
                    reply.extend(data);
                    if fin {
                        break;
                    }
                }
                Frame::Data { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(count_rx.await.unwrap(), 64 * 1024);
        assert_eq!(String::from_utf8(reply).unwrap(), "65536");
    }
}
