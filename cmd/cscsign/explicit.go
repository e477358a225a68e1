package main

import (
	"context"
	"fmt"
)

// explicitSAD authorizes one signature of digest the explicit way (CSC
// credentials/authorize): the PIN and a one-time code, typed at prompts or
// taken from $CSCSIGN_PIN and $CSCSIGN_OTP. With -sms the server first
// texts a code bound to this very hash (sendOTP in v1, getChallenge in v2).
// It returns the SAD.
func (a *app) explicitSAD(ctx context.Context, c *cscClient, cr *credential, digest []byte, hashOID string, sms bool) (string, error) {
	hashes := [][]byte{digest}
	if sms {
		a.step("asking the server to send a code by SMS")
		if err := c.sendSMS(ctx, cr.ID, hashes, hashOID); err != nil {
			return "", err
		}
	}
	var pin, otp string
	var err error
	if cr.NeedsPIN || !cr.NeedsOTP && !sms {
		if pin, err = a.secret("CSCSIGN_PIN", "PIN"); err != nil {
			return "", err
		}
	}
	otpID := "OTP"
	switch {
	case sms:
		otpID = "SMS"
		if !c.v1() && !cr.SMS {
			return "", fmt.Errorf("credential %s offers no SMS code", cr.ID)
		}
		otp, err = a.secret("CSCSIGN_OTP", "code from the SMS")
	case cr.NeedsOTP && !cr.TOTP:
		return "", fmt.Errorf("credential %s wants a code by SMS: add -sms", cr.ID)
	case cr.NeedsOTP:
		otp, err = a.secret("CSCSIGN_OTP", "one-time code")
	}
	if err != nil {
		return "", err
	}
	return c.authorize(ctx, cr.ID, hashes, hashOID, pin, otp, otpID)
}
