#!/usr/bin/python3
# Independent in-guest monitor for the USB hot-plug benchmark (test/bench/usb-hotplug). Runs as
# root inside the QEMU guest, beside the agent under test (mamori-agent or usbguard-daemon) and
# knows nothing about either: it watches the kernel, sysfs and the agent's decision log.
#
# The method is ported from the USBGuard baseline recipe of the project's shared realism notes
# (peer-usbguard/monitor.py): the same sources, clocks and kmsg calibration. What differs here:
# commands come through a FIFO and the records go to a JSON-lines file (the rig's 9p folder), not
# over virtio-serial; the decision log is any agent's (a regex picks its decision lines); and the
# sysfs `authorized` file is polled fast until the state the plug expects (0 for a stick that must
# stay blocked, 1 for one that must be let in) has been seen.
#
# Every stamp is CLOCK_MONOTONIC (time.monotonic()) at receipt:
#   - kernel uevents (NETLINK_KOBJECT_UEVENT, group 1): usb device/interface, scsi, block add/bind/remove
#   - /dev/kmsg records; their printk clock is converted to CLOCK_MONOTONIC by writing a marker
#     record between two clock reads at every arm (and again at disarm, to see the drift)
#   - sysfs `authorized` of the new device, read with pread every ~1 ms from its `add` uevent on
#   - new lines of the decision log (DECISION_LOG; usbguard's audit file or mamori-agent's log)
#
# Env: OUT (JSON-lines output), CTL (a FIFO for commands), DECISION_LOG, DECISION_MATCH (regex).
# Commands, one a line:  arm PLUG EXPECT SERIAL   (EXPECT = block | allow)  |  disarm
# Output lines: {"ev":"ready"} {"ev":"armed",...} {"ev":"dev"|"auth"|"sd"|"decision"|"gone","g":...}
#               {"ev":"record","rec":{...}} at disarm (every raw observation of that plug).
import json, os, re, select, socket, time

mono = time.monotonic
OUT = os.environ['OUT']
CTL = os.environ['CTL']
DECISION_LOG = os.environ.get('DECISION_LOG', '')
DECISION_MATCH = re.compile(os.environ.get('DECISION_MATCH', r'$^'))
KMSG_KEEP = re.compile(r'usb|scsi|sd |\[sd|benchcal', re.I)


def fsize(p):
    try:
        return os.stat(p).st_size
    except OSError:
        return 0


class Monitor:
    def __init__(self):
        self.nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
        try:
            self.nl.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        except OSError:
            self.nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.nl.bind((0, 1))
        self.kr = os.open('/dev/kmsg', os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.kr, 0, os.SEEK_END)
        self.kw = os.open('/dev/kmsg', os.O_WRONLY)
        if not os.path.exists(CTL):
            os.mkfifo(CTL, 0o600)
        # Read-write, so the FIFO never reports end-of-file when a writer goes away.
        self.ctl = os.open(CTL, os.O_RDWR | os.O_NONBLOCK)
        self.out = os.open(OUT, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.inbuf = b''
        self.rec = None
        self.calk = 0
        self.authfd = None
        self.lastPoll = None
        self.decisionOff = fsize(DECISION_LOG) if DECISION_LOG else 0

    def send(self, o):
        os.write(self.out, (json.dumps(o, separators=(',', ':')) + '\n').encode())

    def on_ctl(self):
        try:
            d = os.read(self.ctl, 4096)
        except BlockingIOError:
            return
        self.inbuf += d
        while b'\n' in self.inbuf:
            line, self.inbuf = self.inbuf.split(b'\n', 1)
            words = line.decode('utf-8', 'replace').split()
            if not words:
                continue
            if words[0] == 'arm' and len(words) == 4 and words[2] in ('block', 'allow'):
                self.arm(int(words[1]), words[2], words[3])
            elif words[0] == 'disarm':
                self.disarm()
            else:
                self.send({'ev': 'error', 'msg': 'unknown command: %s' % line.decode('utf-8', 'replace')})

    # kernel printk stamp vs CLOCK_MONOTONIC: a marker record between two clock reads
    def calibrate(self):
        self.calk += 1
        tag = 'benchcal %d' % self.calk
        t1 = mono()
        os.write(self.kw, ('<6>%s\n' % tag).encode())
        t2 = mono()
        deadline = t2 + 2
        while mono() < deadline:
            r, _, _ = select.select([self.kr], [], [], 0.05)
            if r:
                for ts, msg in self.read_kmsg():
                    if msg == tag:
                        return {'off': ts - (t1 + t2) / 2, 'err': (t2 - t1) / 2}
        return None

    def read_kmsg(self):
        out = []
        while True:
            try:
                d = os.read(self.kr, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:  # records overwritten; go on with the next one
                continue
            if not d:
                break
            hdr, _, msg = d.decode('utf-8', 'replace').partition(';')
            ts = int(hdr.split(',')[2]) / 1e6
            msg = msg.split('\n', 1)[0]
            out.append((ts, msg))
            if self.rec is not None and KMSG_KEEP.search(msg) and not msg.startswith('benchcal'):
                self.rec['kmsg'].append([ts, msg])
        return out

    def arm(self, plug, expect, serial):
        if self.authfd is not None:
            os.close(self.authfd)
            self.authfd = None
        cal = self.calibrate()
        rt1 = time.time(); mo = mono(); rt2 = time.time()
        self.rec = {'plug': plug, 'expect': expect, 'serial': serial, 'armedG': mo, 'cal': cal,
                    'rtOff': (rt1 + rt2) / 2 - mo, 'kmsg': [], 'ue': [], 'dev': None, 'ueAddG': None,
                    'authSeen': [], 'polls': 0, 'maxPollGapMs': 0.0, 'decision': [], 'sd': [], 'goneG': None}
        self.decisionOff = fsize(DECISION_LOG) if DECISION_LOG else 0
        self.lastPoll = None
        self.send({'ev': 'armed', 'plug': plug, 'g': mo})

    def disarm(self):
        r = self.rec
        if r is None:
            self.send({'ev': 'record', 'rec': None})
            return
        self.read_kmsg()
        self.poll_decisions(mono())
        r['cal2'] = self.calibrate()
        if self.authfd is not None:
            os.close(self.authfd)
            self.authfd = None
        self.rec = None
        self.send({'ev': 'record', 'rec': r})

    def reached(self):
        """True once the sysfs state the plug expects has been observed."""
        want = '0' if self.rec['expect'] == 'block' else '1'
        return any(v == want for _, v in self.rec['authSeen'])

    def on_uevent(self, t):
        d = self.nl.recv(65536)
        if self.rec is None:
            return
        parts = d.split(b'\0')
        kv = dict(p.decode('utf-8', 'replace').split('=', 1) for p in parts[1:] if b'=' in p)
        act, path, sub, typ = kv.get('ACTION'), kv.get('DEVPATH', ''), kv.get('SUBSYSTEM'), kv.get('DEVTYPE')
        r = self.rec
        r['ue'].append([t, act, path.rsplit('/', 1)[-1], sub, typ, kv.get('DRIVER'), kv.get('SEQNUM')])
        if sub == 'usb' and typ == 'usb_device':
            if act == 'add' and r['dev'] is None:
                r['dev'] = path
                r['ueAddG'] = t
                try:
                    self.authfd = os.open('/sys' + path + '/authorized', os.O_RDONLY)
                except OSError as e:
                    r['authErr'] = str(e)
                self.poll_auth()  # the first read before anything else
                self.send({'ev': 'dev', 'g': t, 'name': path.rsplit('/', 1)[-1]})
            elif act == 'remove' and path == r['dev']:
                r['goneG'] = t
                if self.authfd is not None:
                    os.close(self.authfd)
                    self.authfd = None
                self.send({'ev': 'gone', 'g': t})
        elif sub == 'block' and r['dev'] and path.startswith(r['dev'] + '/') and act == 'add':
            r['sd'].append([t, kv.get('DEVNAME'), typ])
            self.send({'ev': 'sd', 'g': t, 'name': kv.get('DEVNAME'), 'type': typ})

    def poll_auth(self):
        if self.authfd is None:
            return
        try:
            v = os.pread(self.authfd, 8, 0).strip().decode()
        except OSError:
            os.close(self.authfd)
            self.authfd = None
            return
        t = mono()
        r = self.rec
        if self.lastPoll is not None and not self.reached():
            r['maxPollGapMs'] = max(r['maxPollGapMs'], (t - self.lastPoll) * 1000)
        self.lastPoll = t
        r['polls'] += 1
        if not r['authSeen'] or r['authSeen'][-1][1] != v:
            r['authSeen'].append([t, v])
            self.send({'ev': 'auth', 'g': t, 'v': v})

    def poll_decisions(self, t):
        if not DECISION_LOG:
            return
        s = fsize(DECISION_LOG)
        if s <= self.decisionOff:
            return
        with open(DECISION_LOG, 'rb') as f:
            f.seek(self.decisionOff)
            d = f.read(s - self.decisionOff)
        d = d[:d.rfind(b'\n') + 1]  # whole lines only; the rest comes with the next read
        if not d:
            return
        self.decisionOff += len(d)
        for line in d.decode('utf-8', 'replace').splitlines():
            if DECISION_MATCH.search(line):
                self.rec['decision'].append([t, line])
                self.send({'ev': 'decision', 'g': t})

    def decided(self):
        serial = self.rec['serial']
        return any(serial in line for _, line in self.rec['decision'])

    def run(self):
        self.send({'ev': 'ready', 'g': mono()})
        while True:
            r = self.rec
            live = r is not None and r['dev'] is not None and r['goneG'] is None
            fast = live and (not self.reached() or not self.decided())
            timeout = 0.001 if fast else 0.05 if live else 0.5
            rd, _, _ = select.select([self.nl, self.kr, self.ctl], [], [], timeout)
            t = mono()
            if self.nl in rd:
                self.on_uevent(t)
            if self.kr in rd:
                self.read_kmsg()
            if self.ctl in rd:
                self.on_ctl()
            r = self.rec
            if r is not None and r['dev'] is not None and r['goneG'] is None:
                every = 0.0009 if not self.reached() else 0.05
                if self.lastPoll is None or t - self.lastPoll >= every:
                    self.poll_auth()
                # A fresh stamp: handling a uevent above (sysfs open, a 9p write) can take many ms.
                self.poll_decisions(mono())


if __name__ == '__main__':
    Monitor().run()
