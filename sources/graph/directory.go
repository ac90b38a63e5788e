package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/easgate/easgate/sources"
)

// userFields are the /users properties the directory folder reads
// (User.Read.All, §1.2).
const userFields = "id,displayName,givenName,surname,mail,userPrincipalName,jobTitle,department,officeLocation,companyName,mobilePhone,businessPhones"

type graphUser struct {
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName"`
	GivenName         string   `json:"givenName"`
	Surname           string   `json:"surname"`
	Mail              string   `json:"mail"`
	UserPrincipalName string   `json:"userPrincipalName"`
	JobTitle          string   `json:"jobTitle"`
	Department        string   `json:"department"`
	OfficeLocation    string   `json:"officeLocation"`
	CompanyName       string   `json:"companyName"`
	MobilePhone       string   `json:"mobilePhone"`
	BusinessPhones    []string `json:"businessPhones"`
}

// tag changes when any field the folder shows does.
func (u *graphUser) tag() string {
	b, _ := json.Marshal(u)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

func (u *graphUser) toSources() *sources.Contact {
	c := &sources.Contact{FileAs: u.DisplayName, FirstName: u.GivenName, LastName: u.Surname, JobTitle: u.JobTitle,
		Department: u.Department, OfficeLocation: u.OfficeLocation, Company: u.CompanyName,
		Phones: sources.Phones{Mobile: u.MobilePhone}}
	if c.FirstName == "" && c.LastName == "" {
		c.FirstName = u.DisplayName
	}
	if u.Mail != "" {
		c.Emails = []string{u.Mail}
	} else if u.UserPrincipalName != "" {
		c.Emails = []string{u.UserPrincipalName}
	}
	if len(u.BusinessPhones) > 0 {
		c.Phones.Business = u.BusinessPhones[0]
	}
	return c
}

// directoryRound lists the tenant's users and diffs them against the
// journal: /users has no delta for app-only mail gateways to rely on
// here, and the gateway's GAL asks at most every few minutes.
func (f *feed) directoryRound(ctx context.Context) error {
	seen := make(map[sources.ItemID]bool)
	u, q := "/users", url.Values{"$select": {userFields}, "$top": {"999"}}
	for pages := 0; u != ""; pages++ {
		if pages > 1000 {
			return fmt.Errorf("graph: /users: too many pages")
		}
		var p struct {
			Value    []graphUser `json:"value"`
			NextLink string      `json:"@odata.nextLink"`
		}
		if err := f.s.c.getJSON(ctx, "directory", u, q, nil, &p); err != nil {
			return err
		}
		u, q = p.NextLink, nil
		for i := range p.Value {
			id := sources.ItemID(p.Value[i].ID)
			seen[id] = true
			f.record(id, p.Value[i].tag())
		}
	}
	for id, e := range f.entries {
		if !e.removed && !seen[id] {
			f.drop(id)
		}
	}
	return nil
}
