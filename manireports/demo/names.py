"""Word lists for the demo: people, places, courses and companies.

Real sites mix scripts, diacritics, apostrophes and spaces in names, and exports break on exactly
those, so every locale below carries native spellings. Each name comes with an ASCII form because
Moodle usernames are restricted to lower-case ASCII by default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Locale:
    """One population of users: their names, and the settings Moodle stores with them."""

    code: str
    lang: str
    country: str
    timezone: str
    cities: tuple[str, ...]
    first_names: tuple[tuple[str, str], ...]  # (native, ascii)
    last_names: tuple[tuple[str, str], ...]
    weight: int


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """'Zoë=zoe, Ana' -> (('Zoë', 'zoe'), ('Ana', 'ana')): native spelling and its ASCII form."""
    result = []
    for item in text.split(","):
        native, _, ascii_form = item.strip().partition("=")
        result.append((native, (ascii_form or native).lower()))
    return tuple(result)


LOCALES: tuple[Locale, ...] = (
    Locale(
        "en_gb",
        "en",
        "GB",
        "Europe/London",
        ("London", "Manchester", "Leeds", "Cardiff"),
        _pairs(
            "Oliver, Amelia, Harry, Isla, Jack, Sophie, Thomas, Grace, Siân=sian, Niamh, "
            "Anne-Marie=annemarie, Rhys"
        ),
        _pairs(
            "Smith, Jones, Taylor, O'Brien=obrien, Williams, Brown, Davies, Evans, "
            "Fitzgerald, McAllister"
        ),
        22,
    ),
    Locale(
        "en_us",
        "en_us",
        "US",
        "America/New_York",
        ("Boston", "Chicago", "Austin", "Denver"),
        _pairs("James, Olivia, Michael, Emma, DeShawn, Madison, Tyler, Ava, Jo, Chris"),
        _pairs(
            "Johnson, Miller, Garcia, Rodriguez, D'Angelo=dangelo, Anderson, Lee, Walker, "
            "Van Buren=vanburen"
        ),
        10,
    ),
    Locale(
        "fr",
        "fr",
        "FR",
        "Europe/Paris",
        ("Paris", "Lyon", "Marseille", "Besançon"),
        _pairs(
            "Zoë=zoe, Chloé=chloe, François=francois, Hélène=helene, Anaïs=anais, Léa=lea, "
            "Jérôme=jerome, Maël=mael, Noël=noel"
        ),
        _pairs(
            "Dubois, Lefèvre=lefevre, Moreau, Girard, Rousseau, Bénard=benard, "
            "de la Tour=delatour, Fontaine"
        ),
        8,
    ),
    Locale(
        "de",
        "de",
        "DE",
        "Europe/Berlin",
        ("Berlin", "München", "Köln", "Düsseldorf"),
        _pairs("Jürgen=juergen, Jörg=joerg, Lena, Lukas, Sören=soeren, Ute, Maximilian, Anja"),
        _pairs(
            "Müller=mueller, Schröder=schroeder, Schmidt, Weiß=weiss, Groß=gross, "
            "von Bülow=vonbuelow, Becker, Krüger=krueger"
        ),
        7,
    ),
    Locale(
        "pl",
        "pl",
        "PL",
        "Europe/Warsaw",
        ("Warszawa", "Kraków", "Łódź", "Gdańsk"),
        _pairs(
            "Łukasz=lukasz, Małgorzata=malgorzata, Paweł=pawel, Agnieszka, Wojciech, Zofia, "
            "Michał=michal"
        ),
        _pairs(
            "Wiśniewski=wisniewski, Wójcik=wojcik, Kowalczyk, Lewandowska, Zieliński=zielinski, "
            "Szymańska=szymanska"
        ),
        5,
    ),
    Locale(
        "es",
        "es",
        "ES",
        "Europe/Madrid",
        ("Madrid", "Sevilla", "Málaga", "A Coruña"),
        _pairs(
            "José=jose, María=maria, Íñigo=inigo, Lucía=lucia, Álvaro=alvaro, Begoña=begona, "
            "Raúl=raul"
        ),
        _pairs(
            "García=garcia, Muñoz=munoz, Fernández=fernandez, Núñez=nunez, Pérez=perez, "
            "Ortega, de la Cruz=delacruz"
        ),
        6,
    ),
    Locale(
        "pt_br",
        "pt_br",
        "BR",
        "America/Sao_Paulo",
        ("São Paulo", "Recife", "Belo Horizonte"),
        _pairs("João=joao, Conceição=conceicao, Luís=luis, Ana, Tânia=tania, Sebastião=sebastiao"),
        _pairs("Gonçalves=goncalves, Araújo=araujo, Simões=simoes, Silva, Magalhães=magalhaes"),
        4,
    ),
    Locale(
        "tr",
        "tr",
        "TR",
        "Europe/Istanbul",
        ("İstanbul", "Ankara", "İzmir"),
        _pairs("Ayşe=ayse, Çağrı=cagri, Şükrü=sukru, Gülşen=gulsen, İbrahim=ibrahim, Özge=ozge"),
        _pairs("Yılmaz=yilmaz, Öztürk=ozturk, Çelik=celik, Şahin=sahin, Doğan=dogan, Aydın=aydin"),
        4,
    ),
    Locale(
        "ru",
        "ru",
        "RU",
        "Europe/Moscow",
        ("Москва", "Санкт-Петербург", "Казань"),
        _pairs(
            "Ольга=olga, Дмитрий=dmitry, Наталья=natalya, Сергей=sergey, Анастасия=anastasia, "
            "Алексей=aleksey"
        ),
        _pairs(
            "Иванова=ivanova, Смирнов=smirnov, Кузнецова=kuznetsova, Попов=popov, "
            "Соколова=sokolova, Лебедев=lebedev"
        ),
        5,
    ),
    Locale(
        "uk",
        "uk",
        "UA",
        "Europe/Kyiv",
        ("Київ", "Львів", "Одеса"),
        _pairs("Оксана=oksana, Тарас=taras, Ірина=iryna, Богдан=bohdan, Юлія=yuliia"),
        _pairs(
            "Шевченко=shevchenko, Коваленко=kovalenko, Бондаренко=bondarenko, Ткаченко=tkachenko"
        ),
        2,
    ),
    Locale(
        "el",
        "el",
        "GR",
        "Europe/Athens",
        ("Αθήνα", "Θεσσαλονίκη", "Πάτρα"),
        _pairs("Γιώργος=giorgos, Ελένη=eleni, Δημήτρης=dimitris, Μαρία=maria, Νίκος=nikos"),
        _pairs(
            "Παπαδόπουλος=papadopoulos, Οικονόμου=oikonomou, Γεωργίου=georgiou, Νικολάου=nikolaou"
        ),
        3,
    ),
    Locale(
        "ja",
        "ja",
        "JP",
        "Asia/Tokyo",
        ("東京", "大阪", "札幌"),
        _pairs("太郎=taro, 花子=hanako, 翔太=shota, 陽菜=hina, 健=ken, 美咲=misaki"),
        _pairs("田中=tanaka, 佐藤=sato, 鈴木=suzuki, 高橋=takahashi, 渡辺=watanabe, 伊藤=ito"),
        4,
    ),
    Locale(
        "zh_cn",
        "zh_cn",
        "CN",
        "Asia/Shanghai",
        ("北京", "上海", "深圳"),
        _pairs("伟=wei, 芳=fang, 秀英=xiuying, 磊=lei, 静=jing, 明=ming"),
        _pairs("王=wang, 李=li, 张=zhang, 刘=liu, 陈=chen, 欧阳=ouyang"),
        4,
    ),
    Locale(
        "ko",
        "ko",
        "KR",
        "Asia/Seoul",
        ("서울", "부산"),
        _pairs("민준=minjun, 서연=seoyeon, 지훈=jihoon, 하은=haeun"),
        _pairs("김=kim, 이=lee, 박=park, 최=choi"),
        2,
    ),
    Locale(
        "ar",
        "ar",
        "AE",
        "Asia/Dubai",
        ("دبي", "أبو ظبي", "الشارقة"),
        _pairs("محمد=mohammed, فاطمة=fatima, أحمد=ahmed, مريم=maryam, يوسف=yousef, ليلى=layla"),
        _pairs(
            "العلي=alali, الحسن=alhassan, المنصوري=almansouri, الشامسي=alshamsi, عبد الله=abdullah"
        ),
        4,
    ),
    Locale(
        "hi",
        "hi",
        "IN",
        "Asia/Kolkata",
        ("नई दिल्ली", "मुंबई", "Bengaluru", "Chennai"),
        _pairs("अमित=amit, प्रिया=priya, राहुल=rahul, अनन्या=ananya, Arjun, Deepika, Saanvi"),
        _pairs("शर्मा=sharma, वर्मा=verma, गुप्ता=gupta, Iyer, Reddy, Banerjee"),
        5,
    ),
    Locale(
        "vi",
        "vi",
        "VN",
        "Asia/Ho_Chi_Minh",
        ("Hà Nội", "Thành phố Hồ Chí Minh", "Đà Nẵng"),
        _pairs("Thảo=thao, Dũng=dung, Hương=huong, Quốc Anh=quocanh, Ngọc=ngoc"),
        _pairs("Nguyễn=nguyen, Trần=tran, Lê=le, Phạm=pham, Đặng=dang"),
        3,
    ),
    Locale(
        "he",
        "he",
        "IL",
        "Asia/Jerusalem",
        ("תל אביב", "ירושלים", "חיפה"),
        _pairs("נועה=noa, איתי=itai, תמר=tamar, יונתן=yonatan"),
        _pairs("כהן=cohen, לוי=levi, מזרחי=mizrahi, פרץ=peretz"),
        2,
    ),
)

EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "learners.example.edu")

# (category path, course full names). The first level is the top category.
CATALOGUE: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("Compliance", "Health & Safety"), (
        "Fire Safety Awareness", "Manual Handling", "First Aid at Work", "Working at Height",
        "Первая помощь на рабочем месте",
    )),
    (("Compliance", "Data & Privacy"), (
        "Data Protection (GDPR) Essentials", "Information Security Basics",
        "情報セキュリティ基礎", "Anti-Bribery & Corruption",
    )),
    (("Leadership",), (
        "Leading Remote Teams", "Coaching Conversations", "Giving & Receiving Feedback",
        "Führung in Veränderungsprozessen",
    )),
    (("Technical", "Software"), (
        "Introduction to Python", "SQL for Analysts", "Git in Practice", "Web Accessibility",
    )),
    (("Technical", "Software", "Advanced"), (
        "Distributed Systems", "Performance Tuning", "Secure Coding <in> C & C++",
    )),
    (("Languages",), (
        "Español para principiantes", "Français : niveau intermédiaire", "English for Business",
        "日本語入門", "العربية للمبتدئين",
    )),
    (("Customer Service",), (
        "Handling Complaints", "Customer Empathy", "Ελληνική φιλοξενία στην πράξη",
        "Telephone Etiquette",
    )),
    (("Onboarding",), (
        "Welcome to the Company", "Our Values", "Tools We Use", "Expenses & Travel Policy",
    )),
)  # fmt: skip

COMPANIES: tuple[tuple[str, str, str, str], ...] = (
    # (name, shortname, city, country)
    ("Acme Manufacturing", "acme", "Birmingham", "GB"),
    ("Zenith Health Trust", "zenith", "Leeds", "GB"),
    ("Nordlicht Logistik GmbH", "nordlicht", "Hamburg", "DE"),
    ("Soleil Hôtels", "soleil", "Nice", "FR"),
    ("Sakura Systems 株式会社", "sakura", "Osaka", "JP"),
    ("Al Noor Trading", "alnoor", "Dubai", "AE"),
    ("Vistula Finance S.A.", "vistula", "Kraków", "PL"),
    ("Andes Minería", "andes", "Santiago", "CL"),
    ("Bosphorus Tekstil", "bosphorus", "Bursa", "TR"),
    ("Maple & Pine Retail", "maple", "Toronto", "CA"),
    ("Kiwi Outdoor Ltd", "kiwi", "Auckland", "NZ"),
    ("Ganges Pharma", "ganges", "Pune", "IN"),
    ("Baltic Shipping", "baltic", "Riga", "LV"),
    ("Danube Energy", "danube", "Vienna", "AT"),
)

DIVISIONS = ("Operations", "Sales", "Finance", "Human Resources", "Research & Development",
             "Customer Care", "Logistics", "IT")  # fmt: skip
TEAMS = ("North", "South", "East", "West", "Central", "Team A", "Team B", "Night shift")

COHORTS = ("All staff", "New starters 2024", "Line managers", "Apprentices",
           "Fire wardens", "Mentors")  # fmt: skip
