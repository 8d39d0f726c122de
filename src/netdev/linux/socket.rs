//! A small synchronous rtnetlink socket: sequence-checked dumps that are retried when the
//! kernel flags them as interrupted, and pipelined requests whose ACKs are collected by
//! sequence number, with the kernel's extended-ACK text kept.

use std::io;
use std::time::Duration;

use netlink_packet_core::{
    Emitable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

use super::wire::{self, align4, RawMessage, NLMSG_HDR_LEN};
use crate::netdev::DriverError;

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
/// Set on an error message when the kernel left out our request's payload (NETLINK_CAP_ACK).
const NLM_F_CAPPED: u16 = 0x100;
/// Set on an error or done message that carries extended-ACK TLVs.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Requests in flight at once. The kernel handles each request synchronously inside
/// `sendmsg`, so every ACK of a window is queued on our socket before we read the first:
/// the window must fit the receive buffer (an ACK's skb costs well under 1 KiB).
const WINDOW_MESSAGES: usize = 256;
/// Bytes per `sendmsg`; the kernel refuses datagrams larger than the send buffer
/// (212 KiB by default).
const WINDOW_BYTES: usize = 64 * 1024;
/// Receive buffer we ask for; root may exceed `rmem_max` with SO_RCVBUFFORCE.
const RCVBUF: usize = 4 * 1024 * 1024;
/// The kernel caps a dump datagram at 32 KiB unless one object is bigger than that.
const RECV_CHUNK: usize = 256 * 1024;
/// Right after a large apply the kernel keeps changing addresses for a while by itself
/// (IPv6 duplicate address detection on every new link), so the retries span about 2 s.
const DUMP_ATTEMPTS: u32 = 12;
/// First pause before repeating an interrupted dump; it doubles with every attempt up to
/// [`DUMP_RETRY_PAUSE_MAX`].
const DUMP_RETRY_PAUSE: Duration = Duration::from_millis(5);
const DUMP_RETRY_PAUSE_MAX: Duration = Duration::from_millis(250);
/// Replies come as soon as the kernel gets the RTNL lock, which a namespace with
/// thousands of devices being torn down can hold for tens of seconds; only much longer
/// silence means a lost reply.
const RECV_TIMEOUT: Duration = Duration::from_secs(120);

/// Why one pipelined request did not succeed.
#[derive(Debug)]
pub(super) enum Nack {
    /// The kernel answered with an error.
    Kernel { errno: i32, message: Option<String> },
    /// The request was not sent or its answer not read.
    Failed(DriverError),
}

/// One message of a dump: its type and payload (the family header and attributes).
#[derive(Debug)]
pub(super) struct Reply {
    pub kind: u16,
    pub payload: Vec<u8>,
}

/// A NETLINK_ROUTE socket bound in the namespace of the thread that opened it.
pub(super) struct NlSocket {
    sock: Socket,
    port: u32,
    seq: u32,
    window: usize,
    rbuf: Vec<u8>,
    sbuf: Vec<u8>,
}

impl NlSocket {
    pub(super) fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        let addr = sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Options that older kernels lack only cost us error text or stricter filtering.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_netlink_get_strict_chk(true);
        // Our request is already known by its sequence number; echoing it back in every
        // error only eats receive buffer.
        let _ = sock.set_cap_ack(true);
        if setsockopt(&sock, sockopt::RcvBufForce, &RCVBUF).is_err() {
            let _ = setsockopt(&sock, sockopt::RcvBuf, &RCVBUF);
        }
        let _ = setsockopt(
            &sock,
            sockopt::ReceiveTimeout,
            &TimeVal::new(RECV_TIMEOUT.as_secs() as _, 0),
        );
        // The kernel reports twice what it grants; assume 1 KiB of it per queued ACK.
        let rcvbuf = sock.get_rx_buf_sz().unwrap_or(0);
        let window = (rcvbuf / 2 / 1024).clamp(8, WINDOW_MESSAGES);
        Ok(NlSocket {
            sock,
            port: addr.port_number(),
            seq: 0,
            window,
            rbuf: vec![0; RECV_CHUNK],
            sbuf: Vec::with_capacity(WINDOW_BYTES),
        })
    }

    /// Reserves `count` consecutive sequence numbers and returns the first, so that a
    /// window's replies map to requests by subtraction.
    fn reserve_seq(&mut self, count: usize) -> u32 {
        let count = count as u32;
        if self.seq.checked_add(count + 1).is_none() {
            self.seq = 0;
        }
        let first = self.seq + 1;
        self.seq += count;
        first
    }

    /// Appends one request to the send buffer.
    fn push_request(&mut self, msg: RouteNetlinkMessage, flags: u16, seq: u32) {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        header.port_number = self.port;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let start = self.sbuf.len();
        self.sbuf.resize(start + packet.buffer_len(), 0);
        packet.serialize(&mut self.sbuf[start..]);
        self.sbuf.resize(align4(self.sbuf.len()), 0);
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        let sent = self.sock.send(&self.sbuf, 0)?;
        if sent != self.sbuf.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("netlink sent {sent} of {} bytes", self.sbuf.len()),
            ));
        }
        Ok(())
    }

    /// Receives one datagram into `rbuf` and returns its length.
    fn recv(&mut self) -> Result<usize, DriverError> {
        loop {
            match self.sock.recv(&mut &mut self.rbuf[..], libc::MSG_TRUNC) {
                Ok(n) if n > self.rbuf.len() => {
                    return Err(DriverError::Decode(format!(
                        "a netlink datagram of {n} bytes did not fit the {} byte buffer",
                        self.rbuf.len()
                    )))
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DriverError::Io(e)),
            }
        }
    }

    /// Dumps all objects `request` asks for. An interrupted dump (the kernel's tables
    /// changed while it was being read, NLM_F_DUMP_INTR) may miss or repeat objects, so it
    /// is read to its end and started again.
    pub(super) fn dump(
        &mut self,
        request: &RouteNetlinkMessage,
        what: &'static str,
    ) -> Result<Vec<Reply>, DriverError> {
        for attempt in 0..DUMP_ATTEMPTS {
            if attempt > 0 {
                // Changes come in bursts (a container starting, a daemon reconfiguring);
                // a short pause lets one end.
                let pause = DUMP_RETRY_PAUSE.saturating_mul(2u32.saturating_pow(attempt - 1));
                std::thread::sleep(pause.min(DUMP_RETRY_PAUSE_MAX));
            }
            let seq = self.reserve_seq(1);
            self.sbuf.clear();
            self.push_request(request.clone(), NLM_F_REQUEST | NLM_F_DUMP, seq);
            self.send_buffer().map_err(DriverError::Io)?;
            let (replies, interrupted) = self.read_dump(seq, what)?;
            if !interrupted {
                return Ok(replies);
            }
        }
        Err(DriverError::DumpInterrupted {
            what,
            attempts: DUMP_ATTEMPTS,
        })
    }

    /// Reads one dump to its NLMSG_DONE. A decode error is held back until the end so
    /// that the kernel's dump state is finished (it refuses a new dump with EBUSY while
    /// one is still running on the socket).
    fn read_dump(&mut self, seq: u32, what: &str) -> Result<(Vec<Reply>, bool), DriverError> {
        let mut replies = Vec::new();
        let mut interrupted = false;
        let mut held: Option<DriverError> = None;
        loop {
            let n = self.recv()?;
            let mut done = false;
            for msg in wire::messages(&self.rbuf[..n]) {
                let msg = match msg {
                    Ok(msg) => msg,
                    Err(e) => return Err(DriverError::Decode(e)),
                };
                if msg.seq != seq || msg.port != self.port {
                    continue;
                }
                interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
                match msg.kind {
                    NLMSG_NOOP => {}
                    NLMSG_DONE => {
                        // A dump that failed part-way reports the errno in its DONE message.
                        if let Some((errno, message)) = done_error(&msg) {
                            held.get_or_insert(DriverError::Rejected {
                                op: format!("dump {what}"),
                                errno,
                                message,
                            });
                        }
                        done = true;
                    }
                    // An error instead of a dump means the dump never started.
                    NLMSG_ERROR => match parse_ack(&msg) {
                        Ok(()) => {}
                        Err((errno, message)) => {
                            return Err(DriverError::Rejected {
                                op: format!("dump {what}"),
                                errno,
                                message,
                            })
                        }
                    },
                    NLMSG_OVERRUN => {
                        held.get_or_insert(DriverError::Decode(format!("dump of {what} overran")));
                    }
                    kind => replies.push(Reply {
                        kind,
                        payload: msg.payload.to_vec(),
                    }),
                }
            }
            if done {
                return match held {
                    Some(e) => Err(e),
                    None => Ok((replies, interrupted)),
                };
            }
        }
    }

    /// Sends every request (each with `NLM_F_REQUEST | NLM_F_ACK` added to its flags) in
    /// windows of one `sendmsg` each and returns one result per request, in order. When
    /// the socket fails, the requests whose answer is unknown and all later ones fail
    /// with the I/O error; later windows are then not sent.
    pub(super) fn transact(
        &mut self,
        requests: Vec<(RouteNetlinkMessage, u16)>,
    ) -> Vec<Result<(), Nack>> {
        let total = requests.len();
        let mut results: Vec<Option<Result<(), Nack>>> = Vec::with_capacity(total);
        results.resize_with(total, || None);
        let mut pending = requests.into_iter().peekable();
        let mut next_index = 0usize;
        while pending.peek().is_some() {
            // Size the window by messages and bytes, always taking at least one request.
            let mut batch = Vec::new();
            let mut bytes = 0usize;
            while let Some((msg, _)) = pending.peek() {
                let len = NLMSG_HDR_LEN + msg.buffer_len();
                if !batch.is_empty() && (batch.len() >= self.window || bytes + len > WINDOW_BYTES) {
                    break;
                }
                bytes += align4(len);
                if let Some(request) = pending.next() {
                    batch.push(request);
                }
            }
            let first_index = next_index;
            next_index += batch.len();
            if let Err(e) = self.exchange_window(batch, &mut results[first_index..next_index]) {
                for slot in results.iter_mut().filter(|r| r.is_none()) {
                    *slot = Some(Err(Nack::Failed(copy_error(&e))));
                }
                break;
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Nack::Failed(DriverError::Decode(
                        "the kernel did not answer the request".into(),
                    )))
                })
            })
            .collect()
    }

    /// Sends GET requests (not dumps) in windows and returns each one's answer: the
    /// object, or `None` where the kernel has none (ENODEV).
    pub(super) fn get_each(
        &mut self,
        requests: &[RouteNetlinkMessage],
        what: &str,
    ) -> Result<Vec<Option<Reply>>, DriverError> {
        let mut out = Vec::with_capacity(requests.len());
        // Each answer is one object (a link's is a few KiB): a window fits the buffer.
        for chunk in requests.chunks(64) {
            let first = self.reserve_seq(chunk.len());
            self.sbuf.clear();
            for (offset, msg) in chunk.iter().enumerate() {
                self.push_request(msg.clone(), NLM_F_REQUEST, first + offset as u32);
            }
            self.send_buffer().map_err(DriverError::Io)?;
            let mut got: Vec<Option<Option<Reply>>> = chunk.iter().map(|_| None).collect();
            let mut unanswered = chunk.len();
            while unanswered > 0 {
                let n = self.recv()?;
                for msg in wire::messages(&self.rbuf[..n]) {
                    let msg = msg.map_err(DriverError::Decode)?;
                    let offset = msg.seq.wrapping_sub(first) as usize;
                    if msg.port != self.port || offset >= chunk.len() || got[offset].is_some() {
                        continue;
                    }
                    got[offset] = Some(match msg.kind {
                        NLMSG_ERROR => match parse_ack(&msg) {
                            Err((errno, _)) if errno == libc::ENODEV => None,
                            Ok(()) => None,
                            Err((errno, message)) => {
                                return Err(DriverError::Rejected {
                                    op: format!("read {what}"),
                                    errno,
                                    message,
                                })
                            }
                        },
                        kind => Some(Reply {
                            kind,
                            payload: msg.payload.to_vec(),
                        }),
                    });
                    unanswered -= 1;
                }
            }
            out.extend(got.into_iter().map(Option::flatten));
        }
        Ok(out)
    }

    /// The name of interface `index` in the socket's namespace (SIOCGIFNAME: a lookup,
    /// far cheaper than the link's netlink message); `None` when there is none.
    pub(super) fn name_of(&self, index: u32) -> Option<String> {
        use std::os::fd::AsRawFd;
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        req.ifr_ifru.ifru_ifindex = i32::try_from(index).ok()?;
        // SAFETY: SIOCGIFNAME reads the index from and writes the NUL-terminated name
        // into the ifreq `req` points to, which lives across the call; the fd is our
        // socket's, whose namespace the lookup uses.
        let rc = unsafe { libc::ioctl(self.sock.as_raw_fd(), libc::SIOCGIFNAME, &mut req) };
        if rc != 0 {
            return None;
        }
        let bytes: Vec<u8> = req
            .ifr_name
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8(bytes).ok()
    }

    /// Sends one window and fills `results` from the ACKs.
    fn exchange_window(
        &mut self,
        batch: Vec<(RouteNetlinkMessage, u16)>,
        results: &mut [Option<Result<(), Nack>>],
    ) -> Result<(), DriverError> {
        let count = batch.len();
        let first = self.reserve_seq(count);
        self.sbuf.clear();
        for (offset, (msg, flags)) in batch.into_iter().enumerate() {
            self.push_request(
                msg,
                flags | NLM_F_REQUEST | NLM_F_ACK,
                first + offset as u32,
            );
        }
        self.send_buffer().map_err(DriverError::Io)?;
        let mut unanswered = count;
        while unanswered > 0 {
            let n = self.recv()?;
            for msg in wire::messages(&self.rbuf[..n]) {
                let msg = msg.map_err(DriverError::Decode)?;
                let offset = msg.seq.wrapping_sub(first) as usize;
                // Anything else is a late answer to an abandoned request.
                if msg.kind != NLMSG_ERROR || msg.port != self.port || offset >= count {
                    continue;
                }
                let slot = &mut results[offset];
                if slot.is_none() {
                    *slot = Some(
                        parse_ack(&msg).map_err(|(errno, message)| Nack::Kernel { errno, message }),
                    );
                    unanswered -= 1;
                }
            }
        }
        Ok(())
    }
}

/// Decodes an NLMSG_ERROR: `Ok` for an ACK, else the positive errno and the extended-ACK
/// message. Layout: i32 error, the request's nlmsghdr (plus its payload unless
/// NLM_F_CAPPED), then TLVs when NLM_F_ACK_TLVS is set.
fn parse_ack(msg: &RawMessage<'_>) -> Result<(), (i32, Option<String>)> {
    let code = wire::i32_at(msg.payload, 0).unwrap_or(-libc::EBADMSG);
    if code == 0 {
        return Ok(());
    }
    let tlv_start = if msg.flags & NLM_F_CAPPED != 0 {
        4 + NLMSG_HDR_LEN
    } else {
        4 + align4(wire::u32_at(msg.payload, 4).map_or(NLMSG_HDR_LEN, |l| l as usize))
    };
    let message = (msg.flags & NLM_F_ACK_TLVS != 0)
        .then(|| extack_message(msg.payload.get(tlv_start..).unwrap_or(&[])))
        .flatten();
    Err((code.saturating_neg(), message))
}

/// The error of a NLMSG_DONE that ends a failed dump: i32 error, then TLVs.
fn done_error(msg: &RawMessage<'_>) -> Option<(i32, Option<String>)> {
    let code = wire::i32_at(msg.payload, 0)?;
    if code >= 0 {
        return None;
    }
    let message = (msg.flags & NLM_F_ACK_TLVS != 0)
        .then(|| extack_message(msg.payload.get(4..).unwrap_or(&[])))
        .flatten();
    Some((code.saturating_neg(), message))
}

fn extack_message(tlvs: &[u8]) -> Option<String> {
    wire::attrs(tlvs)
        .find(|(kind, _)| *kind == NLMSGERR_ATTR_MSG)
        .map(|(_, value)| wire::as_string(value))
        .filter(|m| !m.is_empty())
}

/// A stand-in for an error that must be reported for several requests.
pub(super) fn copy_error(e: &DriverError) -> DriverError {
    match e {
        DriverError::Io(io) => DriverError::Io(match io.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(io.kind(), io.to_string()),
        }),
        DriverError::Rejected { op, errno, message } => DriverError::Rejected {
            op: op.clone(),
            errno: *errno,
            message: message.clone(),
        },
        DriverError::NoSuchInterface { op, name } => DriverError::NoSuchInterface {
            op: op.clone(),
            name: name.clone(),
        },
        DriverError::Decode(m) => DriverError::Decode(m.clone()),
        DriverError::Ovs(o) => DriverError::Decode(format!("Open vSwitch: {o}")),
        DriverError::DumpInterrupted { what, attempts } => DriverError::DumpInterrupted {
            what,
            attempts: *attempts,
        },
        DriverError::Firewall { op, message } => DriverError::Firewall {
            op: op.clone(),
            message: message.clone(),
        },
        DriverError::Model { op, reason } => DriverError::Model {
            op: op.clone(),
            reason: reason.clone(),
        },
        DriverError::DhcpServer(e) => DriverError::Decode(crate::error_chain(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_message(flags: u16, code: i32, request_len: u32, tlvs: &[u8]) -> Vec<u8> {
        let mut payload = code.to_ne_bytes().to_vec();
        let mut request = vec![0u8; NLMSG_HDR_LEN];
        request[..4].copy_from_slice(&request_len.to_ne_bytes());
        payload.extend(request);
        if flags & NLM_F_CAPPED == 0 {
            payload.resize(
                payload.len() + align4(request_len as usize) - NLMSG_HDR_LEN,
                0,
            );
        }
        payload.extend_from_slice(tlvs);
        payload
    }

    fn msg_tlv(text: &str) -> Vec<u8> {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(NLMSGERR_ATTR_MSG.to_ne_bytes());
        out.extend(value);
        out.resize(align4(out.len()), 0);
        out
    }

    fn raw(flags: u16, payload: &[u8]) -> RawMessage<'_> {
        RawMessage {
            kind: NLMSG_ERROR,
            flags,
            seq: 1,
            port: 1,
            payload,
        }
    }

    #[test]
    fn ack_is_ok() {
        let payload = error_message(NLM_F_CAPPED, 0, 40, &[]);
        assert!(parse_ack(&raw(NLM_F_CAPPED, &payload)).is_ok());
    }

    #[test]
    fn capped_error_with_extack() {
        let flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
        let payload = error_message(flags, -101, 60, &msg_tlv("Nexthop has invalid gateway"));
        let err = parse_ack(&raw(flags, &payload)).expect_err("an error");
        assert_eq!(err, (101, Some("Nexthop has invalid gateway".to_string())));
    }

    #[test]
    fn uncapped_error_skips_the_echoed_request() {
        let flags = NLM_F_ACK_TLVS;
        let payload = error_message(flags, -17, 42, &msg_tlv("exists"));
        let err = parse_ack(&raw(flags, &payload)).expect_err("an error");
        assert_eq!(err, (17, Some("exists".to_string())));
    }

    #[test]
    fn error_without_tlvs_has_no_message() {
        let payload = error_message(NLM_F_CAPPED, -1, 40, &[]);
        assert_eq!(
            parse_ack(&raw(NLM_F_CAPPED, &payload)).expect_err("an error"),
            (1, None)
        );
    }
}
