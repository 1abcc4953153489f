# Prepares the test Request Tracker: the user Switchboard writes as, an agent
# (both privileged, with random passwords), two owners tickets can be given
# to (fatima, daniel), two queues besides General, a single-value custom
# field `Category` on every queue, and an auth token for Switchboard's user
# (what an RT admin issues to a service account).
# Prints the users' passwords and the token as JSON.
use strict;
use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT;
RT::LoadConfig();
RT::Init();

sub password { join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 24 }

my %users;
for my $name ('switchboard', 'agent', 'fatima', 'daniel') {
    my $user = RT::User->new(RT->SystemUser);
    my $password = password();
    my ($ok, $msg) = $user->Create(
        Name => $name, Password => $password, Privileged => 1,
        EmailAddress => "$name\@example.test",
    );
    die "user $name: $msg" unless $ok;
    ($ok, $msg) = $user->PrincipalObj->GrantRight(Right => 'SuperUser', Object => RT->System);
    die "user $name: $msg" unless $ok;
    $users{$name} = $password;
}
for my $name ('Network', 'Desktop Support') {
    my $queue = RT::Queue->new(RT->SystemUser);
    my ($ok, $msg) = $queue->Create(Name => $name);
    die "queue $name: $msg" unless $ok;
}
my $field = RT::CustomField->new(RT->SystemUser);
my ($ok, $msg) = $field->Create(
    Name => 'Category', Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket',
);
die "custom field: $msg" unless $ok;
($ok, $msg) = $field->AddToObject(RT::Queue->new(RT->SystemUser));
die "custom field on every queue: $msg" unless $ok;
my $switchboard = RT::User->new(RT->SystemUser);
$switchboard->Load('switchboard');
my ($token_id, $token_msg, $token) = RT::AuthToken->new(RT->SystemUser)->Create(
    Owner => $switchboard->Id, Description => 'Switchboard connector',
);
die "auth token: $token_msg" unless $token_id;
print '{"users": {', join(', ', map { "\"$_\": \"$users{$_}\"" } sort keys %users), "}, \"token\": \"$token\"}\n";
