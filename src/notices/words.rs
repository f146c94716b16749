//! What a notice tells a family, per language: plain words, no tiers or ids.

use super::What;
use crate::rules::Domain;

fn area(domain: Domain, lang: &str) -> &'static str {
    match (lang, domain) {
        ("es", Domain::Attendance) => "la asistencia",
        ("es", Domain::Academic) => "el trabajo escolar",
        ("es", Domain::Behavioral) => "la conducta",
        ("es", Domain::SocialEmotional) => "las habilidades sociales y emocionales",
        (_, Domain::Attendance) => "attendance",
        (_, Domain::Academic) => "schoolwork",
        (_, Domain::Behavioral) => "behavior",
        (_, Domain::SocialEmotional) => "social and emotional skills",
    }
}

/// The message of a notice in `lang` (English for a language without built-in words).
pub fn message(what: What, domain: Domain, lang: &str) -> String {
    let a = area(domain, lang);
    match (lang, what) {
        ("es", What::SupportRaised) => format!(
            "La escuela está aumentando el apoyo a su hijo o hija con {a}. Alguien de la escuela se comunicará con ustedes."
        ),
        ("es", What::SupportLowered) => format!(
            "Buenas noticias: su hijo o hija necesita menos apoyo adicional con {a}. La escuela seguirá atenta a su progreso."
        ),
        ("es", What::PlanOpened) => format!(
            "La escuela empezó un plan de ayuda para su hijo o hija con {a}. Pueden pedir una copia y hablar con el responsable del plan."
        ),
        ("es", What::PlanClosed) => format!(
            "El plan de ayuda de su hijo o hija con {a} ha terminado. Gracias por su apoyo."
        ),
        (_, What::SupportRaised) => format!(
            "The school is increasing the support for your child with {a}. Someone from school will contact you."
        ),
        (_, What::SupportLowered) => format!(
            "Good news: your child needs less extra support with {a}. The school will keep an eye on progress."
        ),
        (_, What::PlanOpened) => format!(
            "The school started a plan to help your child with {a}. You can ask for a copy and talk with the person leading it."
        ),
        (_, What::PlanClosed) => {
            format!("Your child's help plan for {a} has ended. Thank you for your support.")
        }
    }
}
