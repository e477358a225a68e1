package sms

import (
	"context"
	"fmt"

	"github.com/openrssp/rssp/sam"
	"github.com/openrssp/rssp/store"
)

// CodeSender phrases the SAM's out-of-band messages as SMS texts and sends
// them through a Sender. It is the SAM's [sam.CodeSender].
type CodeSender struct {
	Sender Sender
}

var _ sam.CodeSender = CodeSender{}

// SendCode sends m to the phone number to.
func (c CodeSender) SendCode(ctx context.Context, to string, m sam.CodeMessage) error {
	body, err := Text(m)
	if err != nil {
		return err
	}
	return c.Sender.Send(ctx, Message{To: to, Body: body})
}

// Text is the SMS body for a SAM message, always at most MaxSMSLength
// GSM-7-safe characters.
func Text(m sam.CodeMessage) (string, error) {
	switch m.Purpose {
	case store.PurposeApprove:
		return ApprovalText(m.Code, m.Client, m.Documents, m.Fingerprint), nil
	case store.PurposeBindPhone:
		return fmt.Sprintf("RSSP code %s to confirm this phone number for your signing account. Never share this code.", m.Code), nil
	case store.PurposePhoneChange:
		return fmt.Sprintf("RSSP code %s to move your signing codes to a new phone number. If you did not ask for this, do not share it.", m.Code), nil
	case sam.PurposeActivation:
		return fmt.Sprintf("Your RSSP activation code is %s. Enter it on the enrolment page before %s. Never share this code.",
			m.Code, m.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST")), nil
	case sam.NoticePhoneChanged:
		return "Your RSSP signing codes now go to a new phone number. If you did not ask for this, contact your signing service at once.", nil
	}
	return "", fmt.Errorf("sms: no text for message purpose %q", m.Purpose)
}
