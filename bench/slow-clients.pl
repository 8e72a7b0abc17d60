#!/usr/bin/perl
# bench/slow-clients.pl PORT COUNT SECONDS READY_FILE — the hostile side of
# bench/hostile.sh: COUNT connections to 127.0.0.1:PORT, 50 from each of the
# loopback addresses 127.0.1.1, 127.0.1.2, ... (as from many clients, each
# under the daemon's per-address limit), each sending half a request and
# then one more header line every 3 s (slowloris: the trickle keeps them
# inside the daemon's idle timeout).  A connection the daemon closes is
# opened again.  Writes READY_FILE once all are open; after SECONDS prints
# "held=N reopened=M".
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($port, $count, $seconds, $ready) = @ARGV;
die "usage: slow-clients.pl PORT COUNT SECONDS READY_FILE\n" unless $ready;
$SIG{PIPE} = 'IGNORE';
my $half = "GET /v1/tickets HTTP/1.1\r\nHost: x\r\n";

sub open_one {
    my ($i) = @_;
    my $src = sprintf("127.0.1.%d", 1 + int($i / 50));
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, LocalAddr => $src,
                                  Proto => 'tcp', Timeout => 5) or return undef;
    $s->autoflush(1);
    syswrite($s, $half) or return undef;
    return $s;
}

my @socks;
my $reopened = 0;
my $t0 = time;
for my $i (0 .. $count - 1) {
    $socks[$i] = open_one($i) or die "slow-clients: connection $i: $!\n";
}
printf STDERR "slow-clients: %d connections opened in %.2f s\n", $count, time - $t0;
open(my $fh, '>', $ready) or die "slow-clients: $ready: $!\n";
print $fh "ready\n";
close $fh;

my $end = time + $seconds;
my $next_trickle = time + 3;
my $n = 0;
while (time < $end) {
    # a connection the daemon closed reads end of file: open it again
    my $sel = IO::Select->new(grep { defined } @socks);
    for my $s ($sel->can_read(0.2)) {
        my $buf;
        my $got = sysread($s, $buf, 4096);
        next if defined $got && $got > 0;
        for my $i (0 .. $#socks) {
            next unless defined $socks[$i] && $socks[$i] == $s;
            close $s;
            printf STDERR "slow-clients: %.2f s: connection %d closed by the daemon\n", time - $t0, $i
                if $reopened < 5;
            $socks[$i] = open_one($i);
            $reopened++;
        }
    }
    if (time >= $next_trickle) {
        $n++;
        for my $s (grep { defined } @socks) { syswrite($s, "X-Slow-$n: 1\r\n"); }
        $next_trickle = time + 3;
    }
}
my $held = grep { defined } @socks;
print "held=$held reopened=$reopened\n";
