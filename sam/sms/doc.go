// Package sms delivers out-of-band one-time codes to a signer's phone.
//
// The SAM makes, stores and checks codes itself; this package only carries
// an already-made code to the signer. Senders sit behind one small
// interface, [Sender]:
//
//   - [Twilio] sends through Twilio's Programmable Messaging API
//     (github.com/twilio/twilio-go, Messages resource).
//   - [Log] prints the message to the server log with a loud
//     development-only warning. It refuses to be built in production.
//
// [ApprovalText] writes the body of an approval message: the code together
// with what it approves (client name, number of documents, a short digest
// fingerprint), so that a code cannot silently be reused for something else.
//
// # Security properties
//
//   - A message body holds a one-time code. No error returned by this
//     package contains a body or a code, and [Twilio] never logs.
//     [Log] is the single, deliberate exception: it exists so that a
//     developer sees the code on the console, and [NewLog] refuses to build
//     it when the production flag is set.
//   - Destinations are checked to be E.164 before any request is made.
//   - The client name in [ApprovalText] is untrusted input: it is reduced to
//     printable GSM-7-safe ASCII (no newlines or control characters that
//     could fake a second line) and truncated so the text fits one SMS.
//   - [TwilioConfig.BaseURL] redirects the SDK to another server (tests use
//     a local fake, see package smstest). Plain http is allowed only for
//     loopback hosts, so credentials never travel in clear over a network.
//
// # Concurrency
//
// [Twilio] and [Log] are safe for concurrent use. [Twilio.Send] builds a
// fresh SDK client per call, so no SDK state is shared between calls, and
// binds the caller's context to the HTTP request (the SDK alone would use
// context.Background).
package sms
