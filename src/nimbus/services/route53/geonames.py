"""Names of the locations Route 53 geolocation routing knows (GetGeoLocation,
ListGeoLocations): continents, countries (ISO 3166-1 alpha-2) and United States
subdivisions, listed in AWS's order — continents, the ``*`` default, countries by code,
each country followed by its subdivisions."""

from __future__ import annotations

CONTINENT_NAMES = {"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe", "NA": "North America",
                   "OC": "Oceania", "SA": "South America"}

_COUNTRIES = """AD Andorra|AE United Arab Emirates|AF Afghanistan|AG Antigua and Barbuda|AI Anguilla|AL Albania|AM Armenia
|AO Angola|AQ Antarctica|AR Argentina|AS American Samoa|AT Austria|AU Australia|AW Aruba|AX Åland|AZ Azerbaijan
|BA Bosnia and Herzegovina|BB Barbados|BD Bangladesh|BE Belgium|BF Burkina Faso|BG Bulgaria|BH Bahrain|BI Burundi
|BJ Benin|BL Saint Barthélemy|BM Bermuda|BN Brunei|BO Bolivia|BQ Bonaire|BR Brazil|BS Bahamas|BT Bhutan
|BV Bouvet Island|BW Botswana|BY Belarus|BZ Belize|CA Canada|CC Cocos [Keeling] Islands|CD Congo|CF Central African Republic
|CG Republic of the Congo|CH Switzerland|CI Ivory Coast|CK Cook Islands|CL Chile|CM Cameroon|CN China|CO Colombia
|CR Costa Rica|CU Cuba|CV Cape Verde|CW Curaçao|CX Christmas Island|CY Cyprus|CZ Czech Republic|DE Germany|DJ Djibouti
|DK Denmark|DM Dominica|DO Dominican Republic|DZ Algeria|EC Ecuador|EE Estonia|EG Egypt|EH Western Sahara|ER Eritrea
|ES Spain|ET Ethiopia|FI Finland|FJ Fiji|FK Falkland Islands|FM Federated States of Micronesia|FO Faroe Islands|FR France
|GA Gabon|GB United Kingdom|GD Grenada|GE Georgia|GF French Guiana|GG Guernsey|GH Ghana|GI Gibraltar|GL Greenland
|GM Gambia|GN Guinea|GP Guadeloupe|GQ Equatorial Guinea|GR Greece|GS South Georgia and the South Sandwich Islands
|GT Guatemala|GU Guam|GW Guinea-Bissau|GY Guyana|HK Hong Kong|HM Heard Island and McDonald Islands|HN Honduras|HR Croatia
|HT Haiti|HU Hungary|ID Indonesia|IE Ireland|IL Israel|IM Isle of Man|IN India|IO British Indian Ocean Territory|IQ Iraq
|IR Iran|IS Iceland|IT Italy|JE Jersey|JM Jamaica|JO Hashemite Kingdom of Jordan|JP Japan|KE Kenya|KG Kyrgyzstan
|KH Cambodia|KI Kiribati|KM Comoros|KN Saint Kitts and Nevis|KP North Korea|KR Republic of Korea|KW Kuwait
|KY Cayman Islands|KZ Kazakhstan|LA Laos|LB Lebanon|LC Saint Lucia|LI Liechtenstein|LK Sri Lanka|LR Liberia|LS Lesotho
|LT Republic of Lithuania|LU Luxembourg|LV Latvia|LY Libya|MA Morocco|MC Monaco|MD Republic of Moldova|ME Montenegro
|MF Saint Martin|MG Madagascar|MH Marshall Islands|MK Macedonia|ML Mali|MM Myanmar [Burma]|MN Mongolia|MO Macao
|MP Northern Mariana Islands|MQ Martinique|MR Mauritania|MS Montserrat|MT Malta|MU Mauritius|MV Maldives|MW Malawi
|MX Mexico|MY Malaysia|MZ Mozambique|NA Namibia|NC New Caledonia|NE Niger|NF Norfolk Island|NG Nigeria|NI Nicaragua
|NL Netherlands|NO Norway|NP Nepal|NR Nauru|NU Niue|NZ New Zealand|OM Oman|PA Panama|PE Peru|PF French Polynesia
|PG Papua New Guinea|PH Philippines|PK Pakistan|PL Poland|PM Saint Pierre and Miquelon|PN Pitcairn Islands|PR Puerto Rico
|PS Palestine|PT Portugal|PW Palau|PY Paraguay|QA Qatar|RE Réunion|RO Romania|RS Serbia|RU Russia|RW Rwanda
|SA Saudi Arabia|SB Solomon Islands|SC Seychelles|SD Sudan|SE Sweden|SG Singapore|SH Saint Helena|SI Slovenia
|SJ Svalbard and Jan Mayen|SK Slovakia|SL Sierra Leone|SM San Marino|SN Senegal|SO Somalia|SR Suriname|SS South Sudan
|ST São Tomé and Príncipe|SV El Salvador|SX Sint Maarten|SY Syria|SZ Swaziland|TC Turks and Caicos Islands|TD Chad
|TF French Southern Territories|TG Togo|TH Thailand|TJ Tajikistan|TK Tokelau|TL East Timor|TM Turkmenistan|TN Tunisia
|TO Tonga|TR Turkey|TT Trinidad and Tobago|TV Tuvalu|TW Taiwan|TZ Tanzania|UA Ukraine|UG Uganda
|UM U.S. Minor Outlying Islands|US United States|UY Uruguay|UZ Uzbekistan|VA Vatican City|VC Saint Vincent and the Grenadines
|VE Venezuela|VG British Virgin Islands|VI U.S. Virgin Islands|VN Vietnam|VU Vanuatu|WF Wallis and Futuna|WS Samoa
|XK Kosovo|YE Yemen|YT Mayotte|ZA South Africa|ZM Zambia|ZW Zimbabwe"""

_US = """AK Alaska|AL Alabama|AR Arkansas|AZ Arizona|CA California|CO Colorado|CT Connecticut|DC District of Columbia
|DE Delaware|FL Florida|GA Georgia|HI Hawaii|IA Iowa|ID Idaho|IL Illinois|IN Indiana|KS Kansas|KY Kentucky|LA Louisiana
|MA Massachusetts|MD Maryland|ME Maine|MI Michigan|MN Minnesota|MO Missouri|MS Mississippi|MT Montana|NC North Carolina
|ND North Dakota|NE Nebraska|NH New Hampshire|NJ New Jersey|NM New Mexico|NV Nevada|NY New York|OH Ohio|OK Oklahoma
|OR Oregon|PA Pennsylvania|RI Rhode Island|SC South Carolina|SD South Dakota|TN Tennessee|TX Texas|UT Utah|VA Virginia
|VT Vermont|WA Washington|WI Wisconsin|WV West Virginia|WY Wyoming"""


def _table(text: str) -> dict[str, str]:
    return dict(item.strip().split(" ", 1) for item in text.replace("\n", "").split("|"))


COUNTRY_NAMES = _table(_COUNTRIES)
SUBDIVISION_NAMES = {"US": _table(_US)}


def details(continent: str | None, country: str | None, subdivision: str | None) -> dict[str, str] | None:
    """GeoLocationDetails of one location, or None when Route 53 does not know it."""
    if continent:
        if country or subdivision or continent not in CONTINENT_NAMES:
            return None
        return {"ContinentCode": continent, "ContinentName": CONTINENT_NAMES[continent]}
    if country == "*" and not subdivision:
        return {"CountryCode": "*", "CountryName": "Default"}
    if country not in COUNTRY_NAMES:
        return None
    out = {"CountryCode": country, "CountryName": COUNTRY_NAMES[country]}
    if subdivision:
        name = SUBDIVISION_NAMES.get(country, {}).get(subdivision)
        if name is None:
            return None
        out.update(SubdivisionCode=subdivision, SubdivisionName=name)
    return out


def ordered() -> list[tuple[str | None, str | None, str | None]]:
    """Every location as (continent, country, subdivision), in ListGeoLocations order."""
    out: list[tuple[str | None, str | None, str | None]] = [(c, None, None) for c in sorted(CONTINENT_NAMES)]
    out.append((None, "*", None))
    for country in sorted(COUNTRY_NAMES):
        out.append((None, country, None))
        out.extend((None, country, sub) for sub in sorted(SUBDIVISION_NAMES.get(country, {})))
    return out
